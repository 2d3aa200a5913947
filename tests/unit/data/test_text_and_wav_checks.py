"""No silent wrong numbers from text and wav.scp (issue 23, items 4 and 6): a changed transcript,
wav.scp entry or segment is dumped again; an empty transcript is refused unless allowed; wav.scp
paths with spaces pass validation as they pass reading; bad UTF-8 is named by file and line."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mer.bin import dump_feats, recognize
from mer.data.datadir import DataDir, Segment
from mer.data.kaldi_io import DataFileError, read_kv
from mer.data.validate import validate_data_dir
from tests.helpers.dumps import load_feats, read_failed

LABELS = ["ang", "hap", "neu", "sad"]


def tone(path: Path, freq: float, seconds: float = 1.0) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(16000 * seconds)) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype("f4"), 16000)
    return str(path)


def audio_dir(root: Path, n: int = 4, folder: str = "wav") -> Path:
    d = DataDir()
    for i in range(n):
        d.add(f"u{i}", "s1", wav=tone(root / folder / f"u{i}.wav", 200 + 100 * i), text=f"words {i}",
              emo=LABELS[i % 4])
    d.save(root / "data")
    return root / "data"


def fbank(data: Path, out: Path, *extra: str, nj: int = 1) -> int:
    return dump_feats.main(["--feature", "fbank", "--nj", str(nj), *extra, str(data), str(out)])


def job_of(out: Path, utt: str) -> int:
    return next(j for j in (1, 2) if utt in (out / f"split2/feats.{j}.scp").read_text())


# ---------------------------------------------------------------- stale dumps (item 4)

@pytest.mark.slow
def test_a_changed_wav_scp_entry_is_dumped_again(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    data = audio_dir(tmp_path)
    out = tmp_path / "dump"
    assert fbank(data, out, nj=2) == 0
    before = load_feats(out)
    untouched = 3 - job_of(out, "u1")  # the other job
    other_ark = out / f"split2/feats.{untouched}.ark"
    other_mtime = other_ark.stat().st_mtime_ns
    d = DataDir.load(data)
    d.wav_scp["u1"] = tone(tmp_path / "new" / "u1.wav", 900)  # the recording replaced
    d.save(data)
    caplog.clear()
    assert fbank(data, out, nj=2) == 0
    assert "utterance u1: its wav.scp changed since it was dumped" in caplog.text
    after = load_feats(out)
    fresh_out = tmp_path / "fresh"
    assert fbank(data, fresh_out) == 0
    np.testing.assert_array_equal(after["u1"], load_feats(fresh_out)["u1"])
    assert not np.array_equal(after["u1"], before["u1"])
    for utt in ("u0", "u2", "u3"):
        np.testing.assert_array_equal(after[utt], before[utt])
    assert other_ark.stat().st_mtime_ns == other_mtime  # only the job holding u1 ran again
    caplog.clear()
    assert fbank(data, out, nj=2) == 0 and "all 2 jobs already done" in caplog.text
    assert "changed since" not in caplog.text


def test_a_changed_segment_is_dumped_again(tmp_path, caplog):
    d = DataDir()
    rec = tone(tmp_path / "rec.wav", 300, seconds=3.0)
    for i in range(4):
        d.add(f"u{i}", "s1", wav=rec, segment=Segment("rec", 0.5 * i, 0.5 * i + 0.8), emo="neu", text="w")
    d.save(tmp_path / "data")
    out = tmp_path / "dump"
    assert fbank(tmp_path / "data", out) == 0
    frames = load_feats(out)["u2"].shape[0]
    d.segments["u2"] = Segment("rec", 1.0, 2.5)
    d.save(tmp_path / "data")
    caplog.clear()
    assert fbank(tmp_path / "data", out) == 0
    assert "utterance u2: its segments changed" in caplog.text
    assert load_feats(out)["u2"].shape[0] > frames


def test_a_dump_from_before_sources_were_recorded_is_kept_with_a_note(tmp_path, caplog):
    data = audio_dir(tmp_path)
    out = tmp_path / "dump"
    assert fbank(data, out) == 0
    (out / "split1/sources.json").unlink()
    stamp = json.loads((out / "split1/options.json").read_text())
    del stamp["allow_empty_text"]  # an older stamp: without the option, it stands for its default
    (out / "split1/options.json").write_text(json.dumps(stamp))
    caplog.clear()
    assert fbank(data, out) == 0
    assert "no record of what its finished jobs were dumped from" in caplog.text
    assert (out / "split1/sources.json").is_file()


@pytest.fixture()
def text_data():
    """Four labelled transcripts (each test saves its own copy; DataDir.save does not change it)."""
    d = DataDir()
    for i, words in enumerate(["I am so angry", "what a lovely day", "it is fine", "I miss her"]):
        d.add(f"t{i}", "s1", text=words, emo=LABELS[i])
    return d


def minilm(data: Path, out: Path, *extra: str) -> int:
    return dump_feats.main(["--feature", "hf-text", "--model", "minilm", "--device", "cpu", *extra,
                            str(data), str(out)])


@pytest.mark.slow
def test_a_changed_transcript_is_dumped_again(text_data, tmp_path, caplog):
    d = text_data
    d.save(tmp_path / "data")
    out = tmp_path / "dump"
    assert minilm(tmp_path / "data", out) == 0
    before = load_feats(out)
    d2 = DataDir.load(tmp_path / "data")
    d2.text["t2"] = "it is not fine at all, not at all"
    d2.save(tmp_path / "data")
    caplog.clear()
    assert minilm(tmp_path / "data", out) == 0
    assert "utterance t2: its text changed since it was dumped" in caplog.text
    after = load_feats(out)
    assert after["t2"].shape[0] > before["t2"].shape[0]  # more tokens: the new sentence
    # the job ran again: t0 is batched with the longer t2 now, which moves it by rounding only
    np.testing.assert_allclose(after["t0"], before["t0"], atol=1e-4)


# ---------------------------------------------------------------- empty transcripts (item 4)

def test_an_empty_transcript_is_refused_by_validation_unless_listed_or_allowed(text_data, tmp_path):
    d = text_data
    sub = DataDir(utt2spk=dict(d.utt2spk), text={**d.text, "t1": ""}, utt2emo=dict(d.utt2emo))
    sub.save(tmp_path / "data")
    errors = validate_data_dir(tmp_path / "data", labels=LABELS, no_wav=True)
    assert len(errors) == 1 and errors[0].startswith(f"{tmp_path / 'data' / 'text'}:2: utterance t1 has an "
                                                     f"empty transcript")
    assert validate_data_dir(tmp_path / "data", labels=LABELS, no_wav=True, allow_empty_text=True) == []
    (tmp_path / "data" / "text_missing").write_text("t1\tno transcript line in the corpus\n")
    assert validate_data_dir(tmp_path / "data", labels=LABELS, no_wav=True) == []


def test_an_empty_transcript_fails_in_the_text_dump_unless_listed_or_allowed(text_data, tmp_path):
    d = text_data
    DataDir(utt2spk=dict(d.utt2spk), text={**d.text, "t1": ""}, utt2emo=dict(d.utt2emo)).save(tmp_path / "data")
    out = tmp_path / "refused"
    assert minilm(tmp_path / "data", out) == 1  # the others are dumped; the command says one failed
    failed = read_failed(out)
    assert list(failed) == ["t1"] and f"{tmp_path / 'data'}/text:2: utterance t1 has an empty transcript" \
        in failed["t1"]
    assert set(load_feats(out)) == {"t0", "t2", "t3"}
    assert minilm(tmp_path / "data", tmp_path / "allowed", "--allow-empty-text") == 0
    assert load_feats(tmp_path / "allowed")["t1"].shape[0] == 2  # [CLS] [SEP]
    # a dump dir made one way is not continued the other way
    with pytest.raises(SystemExit, match="allow_empty_text: False -> True"):
        minilm(tmp_path / "data", out, "--allow-empty-text")
    (tmp_path / "data" / "text_missing").write_text("t1\tno transcript line in the corpus\n")
    assert minilm(tmp_path / "data", tmp_path / "listed") == 0


def test_an_empty_hypothesis_in_a_text_file_needs_allowing(text_data, tmp_path):
    d = text_data
    d.save(tmp_path / "data")
    hyps = tmp_path / "asr_text"
    hyps.write_text("t0 hello\nt1 there\nt2\nt3 bye\n")
    assert minilm(tmp_path / "data", tmp_path / "a", "--text-file", str(hyps)) == 1
    assert f"{hyps}:3: utterance t2 has an empty transcript" in read_failed(tmp_path / "a")["t2"]
    assert minilm(tmp_path / "data", tmp_path / "b", "--text-file", str(hyps), "--allow-empty-text") == 0


# ---------------------------------------------------------------- wav.scp paths and encodings (item 6)

def test_wav_scp_paths_with_spaces_validate_as_they_read(tmp_path):
    data = audio_dir(tmp_path, folder="My Drive/corpus wavs")
    assert " " in DataDir.load(data).wav_scp["u0"]
    assert validate_data_dir(data, labels=LABELS) == []
    assert fbank(data, tmp_path / "dump") == 0 and len(load_feats(tmp_path / "dump")) == 4
    # a path that is not there: more likely a command that lost its '|'
    rows = (data / "wav.scp").read_text().splitlines()
    rows[2] = "u2 sox /corpus/u2.wav -t wav -"
    (data / "wav.scp").write_text("".join(r + "\n" for r in rows))
    errors = validate_data_dir(data, labels=LABELS)
    assert errors == [f"{data}/wav.scp:3: 'sox /corpus/u2.wav -t wav -' is not an existing file, and a "
                      f"command must end in '|'"]


def test_invalid_utf8_is_named_by_file_and_line(tmp_path, capsys):
    bad = tmp_path / "text"
    bad.write_bytes("u1 fine\nu2 caf\xe9 latin-1\n".encode("latin-1"))
    with pytest.raises(DataFileError, match=f"{bad}:2: not valid UTF-8 \\(byte 7 of the line\\)"):
        read_kv(bad)
    wav = tone(tmp_path / "u1.wav", 300)
    assert recognize.main(["--model", str(tmp_path / "no-model"), "--text-file", str(bad), wav]) == 2
    assert f"recognize: error: {bad}:2: not valid UTF-8" in capsys.readouterr().err
    bom = tmp_path / "bom"
    bom.write_bytes(b"\xef\xbb\xbfu1 a\nu2 b\n")
    assert read_kv(bom) == {"u1": "a", "u2": "b"}


def test_fold_dirs_carry_the_allowed_empty_transcripts(tmp_path):
    """IEMOCAP keeps turns without a transcript line (listed in text_missing): its fold dirs must
    validate as data/all does, and fix_data_dir (run on every dir after failed dumps) must pass."""
    from mer.bin import fix_data_dir
    from mer.data.protocol_dirs import write_protocol
    from tests.unit.data.test_protocols import fake_iemocap

    dd = fake_iemocap()
    empty = sorted(dd.utt2spk)[::7]
    for utt in empty:
        dd.text[utt] = ""
    dd.save(tmp_path / "all")
    (tmp_path / "all/labels").write_text("neu\n")
    (tmp_path / "all/text_missing").write_text("".join(f"{u}\tno transcript line\n" for u in empty))
    assert validate_data_dir(tmp_path / "all") == []
    assert write_protocol("iemocap", "loso", tmp_path / "all", tmp_path / "loso")
    folds = sorted(p for p in (tmp_path / "loso").glob("fold*/*") if p.is_dir())
    assert folds and all(validate_data_dir(d) == [] for d in folds)
    train = tmp_path / "loso/fold1/train"
    (train / "text_missing").unlink()  # fold dirs made before they carried the list
    assert any("empty transcript" in e for e in validate_data_dir(train))
    assert fix_data_dir.main([str(train)]) == 0
