"""Corpus preparation for IEMOCAP, ESD and EmoDB.

IEMOCAP and ESD are licensed, so they are tested on fake miniatures with every known pitfall of
these corpora (their modules' `write_fake`, built in mer.data.corpora.fakes); the expected counts
below were worked out by hand from the miniature's table, not from the code. EmoDB is open: the real corpus
is used when the EMODB variable points at a copy, and its published counts are asserted.
"""
from __future__ import annotations

import os
import shlex
from collections import Counter
from pathlib import Path

import pytest
import soundfile as sf

from mer.bin import make_protocol, prepare_corpus
from mer.data.corpora import emodb, esd, iemocap
from mer.data.corpora.fakes import write_wav
from mer.data.corpora.fakes.esd import ESD_ENCODINGS, ESD_README, encode
from mer.data.corpora.fakes.esd import write_fake as build_esd
from mer.data.corpora.fakes.iemocap import write_fake as build_iemocap
from mer.data.corpora.common import CorpusError, decode_sniffed, resolve_corpus_dir
from mer.data.datadir import DataDir
from mer.data.dialogues import dialogues
from mer.data.text import clean_transcript


EMODB_DIR = Path(os.environ.get("EMODB", "/nonexistent"))  # the real corpus, where EMODB points (.ci/run)


def assert_valid(d: Path) -> None:
    from mer.data.validate import validate_data_dir

    assert validate_data_dir(d) == []


def wav_path(entry: str) -> Path:
    """The file behind a wav.scp value: a path, or `cat '<path>' |`."""
    if entry.endswith("|"):
        args = shlex.split(entry[:-1])
        assert args[0] == "cat" and len(args) == 2, entry
        return Path(args[1])
    return Path(entry)


def read_tsv(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, value = line.split("\t", 1)
        out[key] = value
    return out


# ==================================================================== IEMOCAP miniature (fakes/iemocap.py)
@pytest.fixture(scope="module")
def iemocap_prepared(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("iemocap")
    root = build_iemocap(tmp)
    out = tmp / "data" / "all"
    dd = iemocap.prepare(tmp, out)  # the folder above IEMOCAP_full_release/ works too
    return root, out, dd


def test_iemocap_counts_and_labels(iemocap_prepared):
    _, out, dd = iemocap_prepared
    assert len(dd) == 13
    assert Counter(dd.utt2emo.values()) == {"ang": 3, "hap": 4, "sad": 2, "neu": 4}
    assert (out / "labels").read_text().split() == ["ang", "hap", "sad", "neu"]
    assert_valid(out)


def test_iemocap_exc_merged_and_others_excluded(iemocap_prepared):
    _, out, dd = iemocap_prepared
    assert dd.utt2emo["Ses01_F-Ses01F_impro01_F001"] == "hap"  # exc
    excluded = read_tsv(out / "excluded")
    assert set(excluded) == {"Ses01_M-Ses01F_impro01_M001", "Ses01_F-Ses01F_impro01_F002",
                             "Ses01_M-Ses01F_impro01_M002", "Ses04_M-Ses04F_impro02_M001",
                             "Ses05_F-Ses05M_impro03_F001"}
    assert "xxx" in excluded["Ses01_M-Ses01F_impro01_M001"]
    assert "fru" in excluded["Ses01_F-Ses01F_impro01_F002"]
    assert "no wav" in excluded["Ses01_M-Ses01F_impro01_M002"]
    assert "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M002.wav" in excluded[
        "Ses01_M-Ses01F_impro01_M002"]
    lines = (out / "excluded").read_bytes().splitlines()
    assert lines == sorted(lines)  # C order


def test_iemocap_speaker_from_last_segment(iemocap_prepared):
    _, out, dd = iemocap_prepared
    # Dialog letter F, speaker letter M: the speaker is the male actor of session 1.
    utt = "Ses01_M-Ses01F_impro01_M000"
    assert dd.utt2spk[utt] == "Ses01_M"
    assert dd.extra["utt2gender"][utt] == "m"
    assert dd.extra["utt2dialog"][utt] == "Ses01F_impro01"
    assert dd.extra["utt2session"][utt] == "Ses01"
    assert dd.utt2spk["Ses02_F-Ses02M_impro05a_F014"] == "Ses02_F"
    assert dd.utt2spk["Ses02_M-Ses02F_script01_2b_M003"] == "Ses02_M"
    assert dd.speakers == [f"Ses0{s}_{g}" for s in range(1, 6) for g in "FM"]
    # Every utterance starts with its speaker and keeps the corpus turn name after the first '-'.
    for utt, spk in dd.utt2spk.items():
        spk_part, turn = utt.split("-", 1)
        assert spk_part == spk and iemocap.TURN_RE.match(turn)
        assert Path(dd.wav_scp[utt]).name == f"{turn}.wav" and Path(dd.wav_scp[utt]).is_file()
        assert Path(dd.wav_scp[utt]).is_absolute()


def test_iemocap_dialogues_interleave_speakers_by_start_time(iemocap_prepared):
    _, out, _ = iemocap_prepared
    data = DataDir.load(out)
    # The miniature's turn i of a dialog spans [1.5 + 4i, 3.25 + 4i] s in its label file.
    assert data.extra["utt2turn"]["Ses01_M-Ses01F_impro01_M000"] == "5.500"
    assert data.extra["utt2turn"]["Ses01_F-Ses01F_impro01_F001"] == "9.500"
    f, m = "Ses01_F-Ses01F_impro01_", "Ses01_M-Ses01F_impro01_"
    assert [u for u in data.utts if u.startswith(("Ses01_F-", "Ses01_M-"))] == \
        [f + "F000", f + "F001", m + "M000"]                               # C order groups speakers
    assert dialogues(data) == {
        "Ses01F_impro01": [f + "F000", m + "M000", f + "F001"],             # time order interleaves
        "Ses02F_script01_2b": ["Ses02_M-Ses02F_script01_2b_M003"],
        "Ses02M_impro05a": ["Ses02_F-Ses02M_impro05a_F014", "Ses02_M-Ses02M_impro05a_M015"],
        "Ses03M_script02_1": ["Ses03_F-Ses03M_script02_1_F000", "Ses03_M-Ses03M_script02_1_M000"],
        "Ses04F_impro02": ["Ses04_F-Ses04F_impro02_F000", "Ses04_M-Ses04F_impro02_M000"],
        "Ses05M_impro03": ["Ses05_F-Ses05M_impro03_F000", "Ses05_M-Ses05M_impro03_M000",
                           "Ses05_F-Ses05M_impro03_F002"]}


def test_iemocap_subfolders_and_junk_ignored(iemocap_prepared):
    _, out, dd = iemocap_prepared
    assert not any("F009" in u for u in dd.utt2spk)
    assert not any("XX" in u for u in dd.utt2spk)
    warnings = (out / "warnings").read_text()
    assert "Ses01F_impro01_FXX0" in warnings and "not a turn id" in warnings
    # The damaged label line is reported with its file and line number: header (2 lines) and
    # two 7-line blocks come before it.
    assert "Session3/dialog/EmoEvaluation/Ses03M_script02_1.txt:17\tlabel line not understood" in warnings


def test_iemocap_text_kept_raw_and_missing_reported(iemocap_prepared):
    _, out, dd = iemocap_prepared
    utt = "Ses01_F-Ses01F_impro01_F000"
    assert dd.text[utt] == "[LAUGHTER] Hello there."  # CRLF gone, tag kept, spaces collapsed
    assert clean_transcript(dd.text[utt]) == "Hello there."
    assert clean_transcript(dd.text["Ses02_M-Ses02M_impro05a_M015"]) == "Okay, okay."
    assert dd.text["Ses02_M-Ses02F_script01_2b_M003"] == ""
    missing = read_tsv(out / "text_missing")
    assert list(missing) == ["Ses02_M-Ses02F_script01_2b_M003"]
    assert not any("\r" in t for t in dd.text.values())


def test_iemocap_no_merge_exc(tmp_path):
    build_iemocap(tmp_path)
    dd = iemocap.prepare(tmp_path / "IEMOCAP_full_release", tmp_path / "all", merge_exc=False)
    assert len(dd) == 12 and Counter(dd.utt2emo.values())["hap"] == 3
    assert "exc" in read_tsv(tmp_path / "all" / "excluded")["Ses01_F-Ses01F_impro01_F001"]


def test_iemocap_rerun_removes_stale_files(tmp_path):
    build_iemocap(tmp_path)
    out = tmp_path / "all"
    iemocap.prepare(tmp_path, out)
    assert (out / "text_missing").is_file()
    (out / "utt2split").write_text("x train\n")  # left over from something else
    root = tmp_path / "IEMOCAP_full_release"
    (root / "Session2" / "dialog" / "transcriptions" / "Ses02F_script01_2b.txt").write_text(
        "Ses02F_script01_2b_M003 [001.5000-003.2500]: Found it.\n")
    iemocap.prepare(tmp_path, out)
    assert not (out / "text_missing").exists() and not (out / "utt2split").exists()
    assert DataDir.load(out).text["Ses02_M-Ses02F_script01_2b_M003"] == "Found it."


def test_iemocap_wrong_dir_is_clear(tmp_path):
    with pytest.raises(CorpusError, match="Session1"):
        iemocap.prepare(tmp_path, tmp_path / "out")


# ==================================================================== ESD miniature (fakes/esd.py)
@pytest.fixture(scope="module")
def esd_prepared(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("esd")
    root = build_esd(tmp / "zip")
    out = tmp / "all"
    dd = esd.prepare(tmp / "zip", out)  # the folder above "Emotion Speech Dataset"
    return root, out, dd


def test_esd_counts_labels_speakers(esd_prepared):
    _, out, dd = esd_prepared
    assert len(dd) == 150  # 10 speakers x 5 emotions x 3 positions
    assert Counter(dd.utt2emo.values()) == {lab: 30 for lab in esd.LABELS}
    assert dd.speakers == [f"00{i}" for i in range(11, 21)]
    assert dd.utt2emo["0011_000351"] == "angry" and dd.utt2emo["0020_001451"] == "surprise"
    assert (out / "labels").read_text().split() == ["neutral", "angry", "happy", "sad", "surprise"]
    assert_valid(out)
    for utt, entry in dd.wav_scp.items():
        assert wav_path(entry).is_file() and utt.startswith(dd.utt2spk[utt] + "_")
    # "Emotion Speech Dataset/" has spaces, which a wav.scp path must not: the file is read
    # through a pipe, which the audio loader runs.
    entry = dd.wav_scp["0011_000001"]
    assert entry.startswith("cat '") and entry.endswith("' |")
    assert wav_path(entry).name == "0011_000001.wav"
    from mer.data.audio import load_audio
    assert load_audio(entry).shape == (3200,)


def test_esd_splits_from_path_and_id_rule(esd_prepared):
    _, out, dd = esd_prepared
    split = dd.extra["utt2split"]
    assert Counter(split.values()) == {"valid": 51, "test": 50, "train": 49}
    assert split["0011_000001"] == "valid" and split["0011_000371"] == "test"   # split folders
    assert split["0017_000701"] == "valid" and split["0017_001451"] == "train"  # flat: id rule
    assert split["0013_000051"] == "valid"  # the folder wins over the id rule ...
    assert "0013/Neutral/evaluation/0013_000051.wav" in (out / "warnings").read_text()  # ... noisily
    assert esd.split_from_id(20) == "valid" and esd.split_from_id(21) == "test"
    assert esd.split_from_id(50) == "test" and esd.split_from_id(51) == "train"
    assert esd.split_from_id(370) == "valid" and esd.split_from_id(1750) == "train"


def test_esd_genders_from_readme(esd_prepared):
    _, _, dd = esd_prepared
    g = dd.extra["utt2gender"]
    assert {dd.utt2spk[u] for u in g if g[u] == "m"} == {"0011", "0012", "0013", "0014", "0020"}
    assert {dd.utt2spk[u] for u in g if g[u] == "f"} == {"0015", "0016", "0017", "0018", "0019"}


def test_esd_readme_missing_or_different(tmp_path):
    build_esd(tmp_path / "a", readme=None)
    dd = esd.prepare(tmp_path / "a", tmp_path / "out_a")
    assert dd.extra["utt2gender"]["0019_000001"] == "f"
    assert "no ReadMe.txt" in (tmp_path / "out_a" / "warnings").read_text()
    build_esd(tmp_path / "b", readme=ESD_README.replace("0019: English Female", "0019: English Male"))
    dd = esd.prepare(tmp_path / "b", tmp_path / "out_b")
    assert dd.extra["utt2gender"]["0019_000001"] == "m"  # the ReadMe decides, with a warning
    assert "speaker 0019" in (tmp_path / "out_b" / "warnings").read_text()


def test_esd_encodings(esd_prepared):
    _, _, dd = esd_prepared
    for spk in ESD_ENCODINGS:
        if spk not in ("0015", "0017"):
            assert dd.text[f"{spk}_000001"] == "The kettle is not on the stove.", spk
    assert dd.text["0016_000051"] == "Let the glass globe be, café."
    assert dd.text["0011_000001"] == "The kettle is not on the stove."  # trailing spaces, CRLF


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be",
                                      "utf-16-be-bom", "latin-1", "cp1252"])
def test_decode_sniffed(encoding):
    text = "0016_000001\tThe café’s kettle.\tNeutral\n" if encoding == "cp1252" else \
        "0016_000001\tThe café kettle.\tNeutral\n"
    assert decode_sniffed(encode(text, encoding))[0] == text


def test_esd_malformed_lines_repaired_or_reported(esd_prepared):
    _, out, dd = esd_prepared
    assert dd.text["0015_000001"] == "The kettle is not on the stove."          # emotion missing
    assert dd.text["0015_000021"] == "Tom saw night as it were broad daylight."  # glued emotion
    assert dd.text["0015_000051"] == "Let the glass globe be."                   # tab in text
    assert dd.text["0015_000351"] == ""                                          # id only
    warnings = (out / "warnings").read_text()
    for lineno in (1, 2, 3, 4):
        assert f"0015/0015.txt:{lineno}\t" in warnings
    assert "0015/0015.txt:16\t" in warnings and "garbage" in warnings


def test_esd_text_missing_and_excluded(esd_prepared):
    _, out, dd = esd_prepared
    missing = read_tsv(out / "text_missing")
    assert set(missing) == {"0015_000351", "0017_000701"}
    assert dd.text["0017_000701"] == "" and "0017_000701" in dd.utt2spk  # audio kept
    excluded = read_tsv(out / "excluded")
    assert set(excluded) == {"0011_000999"} and "no wav" in excluded["0011_000999"]
    assert not any(u.startswith("0001") for u in dd.utt2spk)  # Mandarin speaker ignored
    assert "._0011_000351.wav" in (out / "warnings").read_text()


def test_esd_wrong_dir_is_clear(tmp_path):
    (tmp_path / "0011").mkdir()
    (tmp_path / "nothing").mkdir()
    with pytest.raises(CorpusError, match="no wav files"):
        esd.prepare(tmp_path, tmp_path / "out")
    with pytest.raises(CorpusError, match="0011..0020"):
        esd.prepare(tmp_path / "nothing", tmp_path / "out")


# ==================================================================== EmoDB
def build_emodb_mini(tmp: Path) -> Path:
    for name in ("03a01Wa", "08b10Tc", "16a05Ld", "03a01Xa", "99a01Wa", "notes", "13c01Na"):
        write_wav(tmp / "wav" / f"{name}.wav")
    return tmp


def test_emodb_miniature_labels_and_problems(tmp_path):
    build_emodb_mini(tmp_path / "emodb")
    out = tmp_path / "all"
    dd = emodb.prepare(tmp_path / "emodb", out)
    assert dd.utt2emo == {"03a01Wa": "anger", "08b10Tc": "sadness", "16a05Ld": "boredom"}
    assert dd.utt2spk == {"03a01Wa": "03", "08b10Tc": "08", "16a05Ld": "16"}
    assert dd.extra["utt2gender"] == {"03a01Wa": "m", "08b10Tc": "f", "16a05Ld": "f"}
    assert dd.text["08b10Tc"] == "Die wird auf dem Platz sein, wo wir sie immer hinlegen."
    excluded = read_tsv(out / "excluded")
    assert set(excluded) == {"03a01Xa", "99a01Wa"}
    assert "letter X" in excluded["03a01Xa"] and "speaker 99" in excluded["99a01Wa"]
    warnings = (out / "warnings").read_text()
    assert "wav/notes.wav" in warnings and "wav/13c01Na.wav" in warnings
    assert_valid(out)
    dd4 = emodb.prepare(tmp_path / "emodb", tmp_path / "all4", label_set="4class")
    assert dd4.utt2emo == {"03a01Wa": "ang", "08b10Tc": "sad"}
    assert "boredom" in read_tsv(tmp_path / "all4" / "excluded")["16a05Ld"]


needs_emodb = pytest.mark.skipif(not (EMODB_DIR / "wav").is_dir(),
                                 reason=f"real EmoDB not found at {EMODB_DIR} (set EMODB to a copy)")


@needs_emodb
def test_emodb_real_corpus(tmp_path):
    out = tmp_path / "all"
    dd = emodb.prepare(EMODB_DIR, out)
    assert len(dd) == 535
    letters = {"anger": "W", "boredom": "L", "neutral": "N", "happiness": "F", "fear": "A",
               "sadness": "T", "disgust": "E"}
    counts = Counter(letters[e] for e in dd.utt2emo.values())
    assert counts == {"W": 127, "L": 81, "N": 79, "F": 71, "A": 69, "T": 62, "E": 46}
    assert Counter(dd.utt2spk.values()) == {"03": 49, "08": 58, "09": 43, "10": 38, "11": 55,
                                            "12": 35, "13": 61, "14": 69, "15": 56, "16": 71}
    genders = {dd.utt2spk[u]: g for u, g in dd.extra["utt2gender"].items()}
    assert sorted(s for s, g in genders.items() if g == "m") == ["03", "10", "11", "12", "15"]
    assert dd.text["03a01Fa"] == "Der Lappen liegt auf dem Eisschrank."
    assert all(dd.text.values())
    assert (out / "excluded").read_text() == "" and not (out / "warnings").exists()
    assert_valid(out)
    # The extra RIFF chunk: nothing to do at prep time, but the files must stay readable.
    for utt in list(dd.utt2spk)[:3]:
        assert sf.info(dd.wav_scp[utt]).samplerate == 16000


@needs_emodb
def test_emodb_real_4class(tmp_path):
    dd = emodb.prepare(EMODB_DIR, tmp_path / "all", label_set="4class")
    assert Counter(dd.utt2emo.values()) == {"ang": 127, "hap": 71, "sad": 62, "neu": 79}
    excluded = read_tsv(tmp_path / "all" / "excluded")
    assert len(excluded) == 81 + 69 + 46
    assert Counter(utt[5] for utt in excluded) == {"L": 81, "A": 69, "E": 46}


# ==================================================================== interface and CLI
def test_prepare_corpus_cli_summary(tmp_path, capsys):
    build_iemocap(tmp_path)
    out = tmp_path / "data" / "all"
    assert prepare_corpus.main(["iemocap", "--corpus-dir", str(tmp_path / "IEMOCAP_full_release"),
                                "--out", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    assert "\n" not in line
    assert line.startswith("iemocap: 13 utterances, 10 speakers (ang 3, hap 4, sad 2, neu 4)")
    assert "excluded 5" in line and "text missing 1" in line


def test_prepare_corpus_cli_option_and_env(tmp_path, capsys, monkeypatch):
    build_iemocap(tmp_path)
    monkeypatch.setenv("IEMOCAP", str(tmp_path))
    assert prepare_corpus.main(["iemocap", "--out", str(tmp_path / "o"), "--no-merge-exc"]) == 0
    assert "hap 3" in capsys.readouterr().out


@pytest.mark.parametrize("corpus_dir, message", [(None, "not set: set ESD in db.sh"),
                                                 ("", "not set: set ESD in db.sh"),
                                                 ("/no/such/esd", "does not exist")])
def test_prepare_corpus_cli_missing_dir(tmp_path, capsys, monkeypatch, corpus_dir, message):
    monkeypatch.delenv("ESD", raising=False)
    argv = ["esd", "--out", str(tmp_path / "o")]
    if corpus_dir is not None:
        argv += ["--corpus-dir", corpus_dir]
    assert prepare_corpus.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_prepare_corpus_cli_rejects_other_corpus_options(tmp_path):
    with pytest.raises(SystemExit):
        prepare_corpus.main(["esd", "--corpus-dir", str(tmp_path), "--out", str(tmp_path / "o"),
                             "--label-set", "4class"])


def test_resolve_corpus_dir_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(CorpusError, match="not a directory"):
        resolve_corpus_dir(tmp_path / "f", "IEMOCAP")


def test_end_to_end_prepared_corpora_through_protocols(esd_prepared, iemocap_prepared, tmp_path, capsys):
    """The prepared miniatures go through their default protocols with no speaker leak."""
    for corpus, (_, data, dd) in (("esd", esd_prepared), ("iemocap", iemocap_prepared)):
        out = tmp_path / corpus
        assert make_protocol.main([corpus, "default", str(data), str(out)]) == 0
        folds = sorted(out.glob("fold*"))
        assert len(folds) == 5
        tested = []
        for fold in folds:
            parts = {p: DataDir.load(fold / p) for p in ("train", "valid", "test")}
            for p in parts:
                assert_valid(fold / p)
            spk = {p: set(d.speakers) for p, d in parts.items()}
            assert not spk["train"] & spk["test"] and not spk["train"] & spk["valid"]
            assert not spk["valid"] & spk["test"]
            tested += list(parts["test"].utt2spk)
        assert sorted(tested) == sorted(dd.utt2spk)
    esd_official = tmp_path / "esd_official"
    assert make_protocol.main(["esd", "official", str(esd_prepared[1]), str(esd_official)]) == 0
    assert len(DataDir.load(esd_official / "fold1" / "valid")) == 51
