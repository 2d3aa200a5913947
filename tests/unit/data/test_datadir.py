"""Data-dir validation, fixing, subsetting and splitting, through the utils/*.sh wrappers and the API."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mer.data.datadir import DataDir, Segment
from mer.data.fix import FixError, fix_data_dir
from mer.data.kaldi_io import read_kv
from mer.data.split import partition, split_data, subset_data_dir
from mer.data.validate import check_data_dir, load_labels, validate_data_dir

from tests.helpers import REPO

UTILS = REPO / "utils"
LABELS = ["ang", "hap", "neu", "sad"]
# Speaker -> (number of utterances, session); unequal counts exercise the balancing.
SPEAKERS = {"spkA": (5, "Ses01"), "spkB": (3, "Ses01"), "spkC": (2, "Ses02"), "spkD": (2, "Ses02")}


def build(segments: bool = False, text_only: bool = False) -> DataDir:
    """12 utterances `spkX-00i`; with segments, two utterances per recording."""
    d = DataDir()
    k = 0
    for spk, (n, session) in SPEAKERS.items():
        for i in range(n):
            utt = f"{spk}-{i:03d}"
            seg = Segment(f"{spk}-rec{i // 2}", 1.5 * (i % 2), 1.5 * (i % 2) + 1.25) if segments else None
            wav = None if text_only else f"/corpus/{seg.recording if seg else utt}.wav"
            d.add(utt, spk, wav=wav, text=f"words of {utt}", emo=LABELS[k % 4], segment=seg,
                  session=session, gender="f" if spk in ("spkA", "spkC") else "m")
            k += 1
    return d


def make_dir(tmp_path: Path, name: str = "data", **kw) -> Path:
    path = tmp_path / name
    build(**kw).save(path)
    return path


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def write_lines(path: Path, rows: list[str]) -> None:
    path.write_text("".join(r + "\n" for r in rows), encoding="utf-8")


def run_sh(script: str, *args, cwd: Path | None = None, utils: Path = UTILS) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MER_PYTHON"] = sys.executable
    return subprocess.run(["bash", str(utils / script), *map(str, args)], cwd=cwd or REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [ln for ln in proc.stderr.splitlines() if ln.startswith("ERROR:")]


# ---------------------------------------------------------------- validation


def test_valid_dir_passes_via_shell_script(tmp_path):
    d = make_dir(tmp_path)
    proc = run_sh("validate_data_dir.sh", "--labels", ",".join(LABELS), d)
    assert proc.returncode == 0, proc.stderr
    assert "12 utterances, 4 speakers" in proc.stdout
    assert not error_lines(proc)


def test_valid_dir_through_symlinked_utils_from_a_recipe_dir(tmp_path):
    recipe = tmp_path / "egs" / "toy" / "s1"
    recipe.mkdir(parents=True)
    (recipe / "utils").symlink_to(UTILS)
    make_dir(recipe, "data/train")
    proc = run_sh("validate_data_dir.sh", "data/train", cwd=recipe, utils=recipe / "utils")
    assert proc.returncode == 0, proc.stderr


def test_python_lookup_in_lib(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("MER_PYTHON", "PYTHONPATH")}
    script = f'. "{UTILS}/lib/python.sh"; echo "$MER_PYTHON"; echo "$PYTHONPATH"'
    out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True)
    venv = REPO / ".venv" / "bin" / "python"
    expected = str(venv) if os.access(venv, os.X_OK) else "python3"
    assert out.stdout.splitlines() == [expected, str(REPO)]
    env.update(MER_PYTHON="/opt/py/bin/python", PYTHONPATH="/elsewhere")
    out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["/opt/py/bin/python", f"{REPO}:/elsewhere"]


def _swap_lines(path: Path, i: int, j: int) -> None:
    rows = lines(path)
    rows[i - 1], rows[j - 1] = rows[j - 1], rows[i - 1]
    write_lines(path, rows)


def _unsorted(d):
    _swap_lines(d / "text", 2, 3)  # line 3 now holds spkA-001, after spkA-002


def _duplicate(d):
    rows = lines(d / "utt2emo")
    write_lines(d / "utt2emo", rows[:4] + [rows[3]] + rows[4:])  # line 5 repeats line 4


def _missing_in_text(d):
    rows = lines(d / "text")
    write_lines(d / "text", rows[:6] + rows[7:])  # spkB-001, line 7 of utt2spk


def _extra_in_utt2emo(d):
    write_lines(d / "utt2emo", lines(d / "utt2emo") + ["spkZ-000 ang"])  # line 13


def _spk2utt_inconsistent(d):
    rows = lines(d / "spk2utt")  # spkA line 1 takes spkB-000 (utt2spk line 6) from spkB line 2
    rows[0] += " spkB-000"
    rows[1] = rows[1].replace(" spkB-000", "")
    write_lines(d / "spk2utt", rows)


def _label_outside_set(d):
    rows = lines(d / "utt2emo")
    rows[6] = rows[6].split()[0] + " fru"  # line 7
    write_lines(d / "utt2emo", rows)


def _pipe_without_bar(d):
    rows = lines(d / "wav.scp")
    rows[1] = rows[1].split()[0] + " sox /corpus/x.wav -t wav -"  # line 2
    write_lines(d / "wav.scp", rows)


def _no_final_newline(d):
    (d / "text").write_text((d / "text").read_text().rstrip("\n"))  # last line 12


def _empty_line(d):
    rows = lines(d / "utt2spk")
    write_lines(d / "utt2spk", rows[:3] + [""] + rows[3:])  # line 4


def _empty_transcript(d):
    rows = lines(d / "text")
    rows[3] = rows[3].split()[0]  # line 4: an utterance with no words
    write_lines(d / "text", rows)


def _speaker_gender(d):
    write_lines(d / "spk2gender", ["spkA f", "spkB m", "spkC x", "spkD m"])  # line 3


VIOLATIONS = {
    # name: (mutation, file whose line is named, line, a word of the message)
    "unsorted": (_unsorted, "text", 3, "not sorted"),
    "duplicate": (_duplicate, "utt2emo", 5, "duplicate key"),
    "missing-in-text": (_missing_in_text, "utt2spk", 7, "/text"),
    "extra-in-utt2emo": (_extra_in_utt2emo, "utt2emo", 13, "spkZ-000"),
    "spk2utt": (_spk2utt_inconsistent, "spk2utt", 1, "utt2spk:6"),
    "label": (_label_outside_set, "utt2emo", 7, "'fru'"),
    "pipe": (_pipe_without_bar, "wav.scp", 2, "'|'"),
    "final-newline": (_no_final_newline, "text", 12, "newline"),
    "empty-line": (_empty_line, "utt2spk", 4, "empty line"),
    "spk2gender": (_speaker_gender, "spk2gender", 3, "'x'"),
    "empty-text": (_empty_transcript, "text", 4, "empty transcript"),
}


@pytest.mark.parametrize("kind", sorted(VIOLATIONS))
def test_each_violation_fails_naming_file_and_line(tmp_path, kind):
    mutate, fname, lineno, word = VIOLATIONS[kind]
    d = make_dir(tmp_path)
    mutate(d)
    proc = run_sh("validate_data_dir.sh", "--labels", ",".join(LABELS), d)
    assert proc.returncode == 1
    hits = [ln for ln in error_lines(proc) if f"{d / fname}:{lineno}:" in ln and word in ln]
    assert hits, proc.stderr


@pytest.mark.parametrize("mutate, fname, lineno, word", [
    (lambda lines_: lines_.__setitem__(2, lines_[2].rsplit(" ", 2)[0] + " 2.0 1.0"), "segments", 3, "not after"),
    (lambda lines_: lines_.__setitem__(0, lines_[0].rsplit(" ", 2)[0] + " -0.5 1.0"), "segments", 1, "negative"),
    (lambda lines_: lines_.__setitem__(4, lines_[4].replace("rec", "gone")), "segments", 5, "not in"),
    (lambda lines_: lines_.__setitem__(1, lines_[1] + " 3.0"), "segments", 2, "fields"),
])
def test_bad_segments(tmp_path, mutate, fname, lineno, word):
    d = make_dir(tmp_path, segments=True)
    assert validate_data_dir(d, labels=LABELS) == []
    rows = lines(d / "segments")
    mutate(rows)
    write_lines(d / "segments", rows)
    proc = run_sh("validate_data_dir.sh", d)
    assert proc.returncode == 1
    assert any(f"{d / fname}:{lineno}:" in ln and word in ln for ln in error_lines(proc)), proc.stderr


def test_segments_key_wav_scp_by_recording(tmp_path):
    d = make_dir(tmp_path, segments=True)
    assert len(lines(d / "wav.scp")) < len(lines(d / "utt2spk"))  # per recording, not per utterance
    write_lines(d / "wav.scp", lines(d / "wav.scp") + ["zzz-unused /corpus/zzz.wav"])
    result = check_data_dir(d)
    assert result.errors == []
    assert any("zzz-unused" in w and "no segment" in w for w in result.warnings)


def test_label_check_only_with_a_label_set(tmp_path):
    d = make_dir(tmp_path)
    _label_outside_set(d)
    assert validate_data_dir(d) == []
    (tmp_path / "labels.txt").write_text("\n".join(LABELS) + "\n")
    assert load_labels(tmp_path / "labels.txt") == LABELS
    assert any("'fru'" in e for e in validate_data_dir(d, labels=tmp_path / "labels.txt"))
    # the label set that corpus preparation writes into the dir is used by default
    write_lines(d / "labels", LABELS)
    assert any("'fru'" in e for e in validate_data_dir(d))
    assert validate_data_dir(d, labels=LABELS + ["fru"]) == []


def test_required_files_and_text_only(tmp_path):
    d = make_dir(tmp_path, text_only=True)
    assert not (d / "wav.scp").exists()
    errors = validate_data_dir(d)
    assert len(errors) == 1 and "wav.scp" in errors[0] and "--no-wav" in errors[0]
    assert run_sh("validate_data_dir.sh", "--no-wav", d).returncode == 0
    (d / "utt2emo").unlink()
    assert any(e.endswith("utt2emo: missing") for e in validate_data_dir(d, no_wav=True))


def test_feats_and_num_frames_must_cover_the_same_utts(tmp_path):
    d = make_dir(tmp_path)
    utts = lines(d / "utt2spk")
    write_lines(d / "feats.scp", [f"{u.split()[0]} /dump/feats.ark:{i * 100}" for i, u in enumerate(utts[:-1])])
    write_lines(d / "utt2num_frames", [f"{u.split()[0]} {50 + i}" for i, u in enumerate(utts)])
    errors = validate_data_dir(d)
    assert len(errors) == 1 and f"{d / 'utt2spk'}:12:" in errors[0] and "feats.scp" in errors[0]
    rows = lines(d / "utt2num_frames")
    rows[3] = rows[3].split()[0] + " 0"
    write_lines(d / "utt2num_frames", rows)
    assert any(f"{d / 'utt2num_frames'}:4:" in e for e in validate_data_dir(d))


def test_warnings_are_not_errors(tmp_path):
    d = tmp_path / "one"
    dd = DataDir()
    # ids not prefixed by the speaker: sorted by utterance, not by speaker
    dd.add("a1", "s2", wav="/x/a1.wav", text="x", emo="ang")
    dd.add("a2", "s1", wav="/x/a2.wav", text="x", emo="hap")
    dd.save(d)
    result = check_data_dir(d)
    assert result.errors == []
    assert any("utt2spk:2:" in w and "sorted by speaker" in w for w in result.warnings)
    assert run_sh("validate_data_dir.sh", d).returncode == 0
    single = DataDir()
    single.add("s1-a", "s1", wav="/x/a.wav", text="x", emo="ang")
    single.save(tmp_path / "single")
    assert any("single speaker" in w for w in check_data_dir(tmp_path / "single").warnings)


def test_many_problems_are_capped(tmp_path):
    d = make_dir(tmp_path)
    rows = lines(d / "utt2emo")
    write_lines(d / "utt2emo", rows + rows)  # 12 duplicates
    errors = validate_data_dir(d)
    dups = [e for e in errors if "duplicate key" in e]
    assert len(dups) == 5
    assert any("7 more duplicate-key problem(s)" in e for e in errors)


# ---------------------------------------------------------------- fixing


def test_fix_keeps_the_intersection_backs_up_and_validates(tmp_path):
    d = make_dir(tmp_path)
    _missing_in_text(d)          # spkB-001 not in text
    rows = lines(d / "utt2emo")  # spkC-001 not in utt2emo, and one utterance only utt2emo has
    write_lines(d / "utt2emo", [r for r in rows if not r.startswith("spkC-001 ")] + ["spkZ-000 ang"])
    _unsorted(d)
    (d / "spk2utt").unlink()
    originals = {n: (d / n).read_bytes() for n in ("text", "utt2emo", "utt2spk", "utt2session")}
    assert run_sh("validate_data_dir.sh", d).returncode == 1

    proc = run_sh("fix_data_dir.sh", d)
    assert proc.returncode == 0, proc.stderr
    assert "kept 10 of 12 utterances; dropped 1 not in text, 1 not in utt2emo" in proc.stdout
    assert "removed 1 line(s) of utt2emo for utterances not in utt2spk" in proc.stdout
    kept = list(read_kv(d / "utt2spk"))
    assert len(kept) == 10 and "spkB-001" not in kept and "spkC-001" not in kept
    for name in ("text", "utt2emo", "wav.scp", "utt2session", "utt2gender"):
        assert list(read_kv(d / name)) == kept, name
    for name, data in originals.items():
        assert (d / ".backup" / name).read_bytes() == data
    assert run_sh("validate_data_dir.sh", "--labels", ",".join(LABELS), d).returncode == 0

    # a second run changes nothing and keeps the first backup
    again = fix_data_dir(d)
    assert again.kept == again.total == 10 and again.changed == [] and not again.dropped
    assert (d / ".backup" / "text").read_bytes() == originals["text"]


def test_fix_backs_up_only_what_it_changes(tmp_path):
    d = make_dir(tmp_path)
    _unsorted(d)
    summary = fix_data_dir(d)
    assert summary.changed == ["text"]
    assert sorted(p.name for p in (d / ".backup").iterdir()) == ["text"]
    assert str(summary).startswith("kept 12 of 12 utterances\n")


def test_fix_exclude_list_and_segments(tmp_path):
    d = make_dir(tmp_path, segments=True)
    rows = lines(d / "segments")
    rows[5] = rows[5].rsplit(" ", 2)[0] + " 2.0 1.0"  # line 6, spkB-000: end before start
    write_lines(d / "segments", rows)
    failed = tmp_path / "failed"
    # spkA-004 is alone on recording spkA-rec2, which must leave wav.scp with it
    failed.write_text("spkA-004\tfeature extraction failed: too short\nnot-an-utt\tx\n")
    proc = run_sh("fix_data_dir.sh", "--exclude", failed, d)
    assert proc.returncode == 0, proc.stderr
    assert (f"kept 10 of 12 utterances; dropped 1 listed in {failed}, "
            "1 with a bad segment (fields or times)") in proc.stdout
    assert "spkA-rec2" not in read_kv(d / "wav.scp")
    segs = read_kv(d / "segments")
    assert {v.split()[0] for v in segs.values()} == set(read_kv(d / "wav.scp"))
    assert validate_data_dir(d) == []


def test_fix_text_only_dir_and_nothing_left(tmp_path):
    d = make_dir(tmp_path, text_only=True)
    _extra_in_utt2emo(d)
    fix_data_dir(d)
    assert validate_data_dir(d, no_wav=True) == []
    write_lines(d / "text", ["nobody hello"])
    before = {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}
    with pytest.raises(FixError, match="no utterance would be left"):
        fix_data_dir(d)
    assert {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()} == before
    assert run_sh("fix_data_dir.sh", d).returncode == 1


# ---------------------------------------------------------------- subsetting


def test_subset_by_speaker_list(tmp_path):
    d = make_dir(tmp_path, segments=True)
    spk_list = tmp_path / "spk.list"
    write_lines(spk_list, ["spkB", "spkD", "spkX"])
    proc = run_sh("subset_data_dir.sh", "--spk-list", spk_list, d, tmp_path / "sub")
    assert proc.returncode == 0, proc.stderr
    assert "spkX" in proc.stderr  # an unknown speaker is reported
    sub = DataDir.load(tmp_path / "sub")
    assert sub.speakers == ["spkB", "spkD"] and len(sub) == 5
    assert set(sub.wav_scp) == {s.recording for s in sub.segments.values()}
    assert validate_data_dir(tmp_path / "sub") == []


def test_subset_by_session_and_complement(tmp_path):
    d = make_dir(tmp_path)
    test = subset_data_dir(d, tmp_path / "test", sessions="Ses02").data
    train = subset_data_dir(d, tmp_path / "train", sessions=["Ses02"], complement=True).data
    assert test.speakers == ["spkC", "spkD"] and train.speakers == ["spkA", "spkB"]
    assert sorted(test.utts + train.utts) == sorted(build().utts)
    assert set(DataDir.load(tmp_path / "test").extra["utt2session"].values()) == {"Ses02"}
    proc = run_sh("subset_data_dir.sh", "--sessions", "Ses09", d, tmp_path / "none")
    assert proc.returncode == 1 and "Ses01, Ses02" in proc.stderr


def test_subset_by_utt_list_and_fold_file_replaces_stale_files(tmp_path):
    d = make_dir(tmp_path)
    dst = tmp_path / "sub"
    utt_list = tmp_path / "utts"
    write_lines(utt_list, ["spkC-001\tsomething", "spkA-000"])
    subset_data_dir(d, dst, utt_list=utt_list)
    assert DataDir.load(dst).utts == ["spkA-000", "spkC-001"]
    # a text-only source leaves no stale wav.scp behind in the same destination
    t = make_dir(tmp_path, "textonly", text_only=True)
    folds = tmp_path / "folds"
    write_lines(folds, [f"{u} {1 + i % 3}" for i, u in enumerate(build().utts)])
    subset_data_dir(t, dst, fold_file=folds, folds="1,3")
    assert not (dst / "wav.scp").exists()
    assert DataDir.load(dst).utts == [u for i, u in enumerate(build().utts) if i % 3 in (0, 2)]
    with pytest.raises(ValueError, match="fold '7'"):
        subset_data_dir(t, dst, fold_file=folds, folds="7")


# ---------------------------------------------------------------- splitting


def test_split_by_speaker(tmp_path):
    d = make_dir(tmp_path)
    proc = run_sh("split_data.sh", d, 2)
    assert proc.returncode == 0, proc.stderr
    parts = [DataDir.load(d / "split2" / str(i)) for i in (1, 2)]
    all_utts = [u for p in parts for u in p.utts]
    assert sorted(all_utts) == sorted(build().utts) and len(set(all_utts)) == len(all_utts)
    spk_parts = {}
    for i, p in enumerate(parts):
        for spk in p.speakers:
            spk_parts.setdefault(spk, set()).add(i)
    assert all(len(v) == 1 for v in spk_parts.values()) and len(spk_parts) == 4
    assert sorted(len(p) for p in parts) == [5, 7]  # 5+2 | 3+2: as even as whole speakers allow
    for i in (1, 2):
        assert validate_data_dir(d / "split2" / str(i)) == []


def test_split_errors_and_per_utt(tmp_path):
    d = make_dir(tmp_path)
    proc = run_sh("split_data.sh", d, 5)
    assert proc.returncode == 1 and "--per-utt" in proc.stderr
    parts = split_data(d, 5, by="utt")
    assert [p.name for p in parts] == ["1", "2", "3", "4", "5"] and parts[0].parent.name == "split5utt"
    sizes = [len(DataDir.load(p)) for p in parts]
    assert sorted(sizes) == [2, 2, 2, 3, 3]
    with pytest.raises(ValueError):
        split_data(d, 13, by="utt")


def test_split_is_deterministic_and_idempotent(tmp_path):
    d = make_dir(tmp_path)
    parts = split_data(d, 3)
    first = {p.name: (p / "utt2spk").read_bytes() for p in parts}
    os.utime(parts[0] / "utt2spk", (1, 1))  # a stamp that only an untouched file keeps
    split_data(d, 3)  # current: skipped
    assert (parts[0] / "utt2spk").stat().st_mtime == 1
    later = (d / "split3" / ".complete").stat().st_mtime + 10
    os.utime(d / "text", (later, later))  # the source changed after the split: redone
    split_data(d, 3)
    assert (parts[0] / "utt2spk").stat().st_mtime != 1
    assert {p.name: (p / "utt2spk").read_bytes() for p in parts} == first
    assert partition(build(), 3) == partition(build(), 3)


# ---------------------------------------------------------------- DataDir round trip


@pytest.mark.parametrize("kw", [{}, {"segments": True}, {"text_only": True}])
def test_datadir_save_load_round_trip(tmp_path, kw):
    d = build(**kw)
    d.extra["feats.scp"] = {u: f"/dump/x.ark:{i}" for i, u in enumerate(d.utts)}
    d.spk_extra["spk2gender"] = {"spkA": "f", "spkB": "m", "spkC": "f", "spkD": "m"}
    if kw.get("segments"):
        d.segments["spkA-000"] = Segment("spkA-rec0", 0.0625, 1.0000001)  # more than 3 decimals
    d.save(tmp_path / "x")
    back = DataDir.load(tmp_path / "x")
    assert back == d
    assert validate_data_dir(tmp_path / "x", no_wav=bool(kw.get("text_only"))) == []
    assert (tmp_path / "x" / "wav.scp").exists() != bool(kw.get("text_only"))


# ---------------------------------------------------------------- dialogues: utt2dialog, utt2turn


def make_dialog_dir(tmp_path: Path, name: str = "data") -> Path:
    """The dir of `build()` with a dialogue per session; turns in seconds, speakers interleaved."""
    d = build()
    utts = sorted(d.utts, key=lambda u: (u[-3:], u))           # spkA-000 spkB-000 spkC-000 ...
    d.extra["utt2dialog"] = {u: f"dia-{d.extra['utt2session'][u]}" for u in utts}
    d.extra["utt2turn"] = {u: f"{1.5 * i:.3f}" for i, u in enumerate(utts)}
    d.save(tmp_path / name)
    return tmp_path / name


def test_utt2turn_loads_as_numbers_and_validates(tmp_path):
    d = make_dialog_dir(tmp_path)
    assert validate_data_dir(d, labels=LABELS) == []
    back = DataDir.load(d)
    assert back.source == str(d)
    assert back.utt2turn["spkB-000"] == 1.5 and isinstance(back.utt2turn["spkB-000"], float)
    assert back.extra["utt2turn"]["spkB-000"] == "1.500"          # written back byte for byte
    assert DataDir.load(make_dir(tmp_path, "plain")).utt2turn == {}


@pytest.mark.parametrize("bad", ["soon", "nan", "inf"])
def test_bad_utt2turn_names_file_and_line(tmp_path, bad):
    d = make_dialog_dir(tmp_path)
    rows = lines(d / "utt2turn")
    rows[2] = rows[2].split()[0] + " " + bad
    write_lines(d / "utt2turn", rows)
    proc = run_sh("validate_data_dir.sh", d)
    assert proc.returncode == 1
    assert any(f"{d / 'utt2turn'}:3:" in ln and f"'{bad}'" in ln and "not a number" in ln
               for ln in error_lines(proc)), proc.stderr
    with pytest.raises(ValueError, match=rf"utt2turn:3: turn '{bad}' of utterance 'spkA-002' is not a number"):
        DataDir.load(d)


def test_utt2turn_without_utt2dialog_is_an_error(tmp_path):
    d = make_dialog_dir(tmp_path)
    (d / "utt2dialog").unlink()
    errors = validate_data_dir(d)
    assert len(errors) == 1 and "utt2turn without utt2dialog" in errors[0] and str(d / "utt2turn") in errors[0]


def test_subset_fix_and_split_carry_dialogues(tmp_path):
    d = make_dialog_dir(tmp_path)
    full = DataDir.load(d)
    proc = run_sh("subset_data_dir.sh", "--sessions", "Ses02", d, tmp_path / "sub")
    assert proc.returncode == 0, proc.stderr
    sub = DataDir.load(tmp_path / "sub")
    assert sub.extra["utt2dialog"] == {u: "dia-Ses02" for u in sub.utts}
    assert sub.utt2turn == {u: full.utt2turn[u] for u in sub.utts} and len(sub) == 4
    for part in split_data(d, 2):
        p = DataDir.load(part)
        assert p.extra["utt2turn"] == {u: full.extra["utt2turn"][u] for u in p.utts}
        assert p.extra["utt2dialog"] == {u: full.extra["utt2dialog"][u] for u in p.utts}
    write_lines(d / "text", [r for r in lines(d / "text") if not r.startswith("spkC-001 ")])
    fix_data_dir(d)
    fixed = DataDir.load(d)
    assert "spkC-001" not in fixed.extra["utt2turn"] and "spkC-001" not in fixed.extra["utt2dialog"]
    assert fixed.extra["utt2turn"] == {u: full.extra["utt2turn"][u] for u in fixed.utts}
    assert validate_data_dir(d) == []
