"""MELD and CMU-MOSEI preparation on faithful fake miniatures (every pitfall of corpora.md sections
3, 4 and 6; the modules' `write_fake`, built in mer.data.corpora.fakes), plus checks against the
real MELD CSVs when the MELD variable points at them."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mer.data.corpora import meld, mosei, mosei_folds
from mer.data.corpora.common import CorpusError
from mer.data.corpora.fakes.meld import (DEV_ROWS, TEST_ROWS, TRAIN_ROWS, find_ffmpeg, make_clip, row,
                                         write_csv)
from mer.data.corpora.fakes.mosei import DASH, FOLDS, SR
from mer.data.datadir import DataDir
from mer.data.dialogues import dialogue_split_violations, dialogues
from mer.data.kaldi_io import read_kv
from mer.data.validate import check_data_dir

from tests.helpers import REPO

# MELD's repository as cloned (data/MELD/*.csv, and the 2019 CSVs under legacy-2019-a36f437/),
# where the MELD variable points (.ci/run); the real-data checks skip without it.
REAL_MELD = Path(os.environ.get("MELD", "/nonexistent"))


FFMPEG = find_ffmpeg()
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="no ffmpeg (imageio-ffmpeg not installed)")


@pytest.fixture
def ffmpeg_on_path(tmp_path, monkeypatch):
    """Put a directory whose `ffmpeg` is the real one first on PATH (what recipes do)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "ffmpeg").symlink_to(FFMPEG)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")


def excluded(out: Path) -> dict[str, str]:
    lines = (out / "excluded").read_text(encoding="utf-8").splitlines()
    keys = [ln.split("\t", 1)[0] for ln in lines]
    assert keys == sorted(keys, key=lambda k: k.encode()), "excluded must be C-sorted"
    return dict(ln.split("\t", 1) for ln in lines)


# =================================================================================================
# MELD miniature (fakes/meld.py)

@pytest.fixture(scope="module")
def meld_raw(tmp_path_factory):
    """MELD.Raw as extracted: dev/test CSVs beside their media folders, the train CSV inside train/."""
    if FFMPEG is None:
        pytest.skip("no ffmpeg to make fake clips")
    return meld.write_fake(tmp_path_factory.mktemp("meld"), media=True, ffmpeg=FFMPEG)


@needs_ffmpeg
def test_meld_audio_keys_labels_splits(meld_raw, tmp_path, ffmpeg_on_path):
    out = tmp_path / "meld"
    dd = meld.prepare(meld_raw.parent, out)       # a folder above MELD.Raw: everything found by name
    utts = set(dd.utt2spk)
    assert utts == {
        "train-dia0000-utt00", "train-dia0000-utt01", "train-dia0000-utt02",
        "train-dia0007-utt00", "train-dia0007-utt02",
        "train-dia0125-utt00", "train-dia0125-utt01", "train-dia0125-utt02",
        "train-dia0309-utt00",
        "dev-dia0000-utt00", "dev-dia0000-utt01", "dev-dia0110-utt06", "dev-dia0111-utt00",
        "test-dia0000-utt00", "test-dia0000-utt01", "test-dia0038-utt04", "test-dia0155-utt03"}
    # Files on disk match and pass the validator (speaker order is only a warning for MELD).
    res = check_data_dir(out)
    assert res.ok, res.errors
    assert set(read_kv(out / "utt2spk")) == utts
    split = read_kv(out / "utt2split")
    assert Counter(split.values()) == {"train": 9, "valid": 4, "test": 4}
    assert split["dev-dia0000-utt00"] == "valid"
    assert read_kv(out / "utt2dialog")["train-dia0007-utt02"] == "train-dia0007"
    assert read_kv(out / "utt2turn")["train-dia0007-utt02"] == "2"     # Utterance_ID, gap kept
    emo = read_kv(out / "utt2emo")
    assert emo["train-dia0007-utt02"] == "fear" and emo["dev-dia0000-utt01"] == "surprise"
    assert (out / "labels").read_text().split() == list(meld.LABELS)
    assert list(meld.LABELS) == ["neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear"]
    # Speakers: free text made into ids; the original strings kept in spk2name.
    spk = read_kv(out / "utt2spk")
    assert spk["train-dia0007-utt00"] == "Joey_and_Ross"
    assert spk["train-dia0007-utt02"] == "Dr_Green"
    assert spk["train-dia0000-utt01"] == "The_Interviewer"
    assert read_kv(out / "spk2name")["Joey_and_Ross"] == "Joey and Ross"


@needs_ffmpeg
def test_meld_exclusions_and_ignored_media(meld_raw, tmp_path, ffmpeg_on_path):
    out = tmp_path / "meld"
    meld.prepare(meld_raw, out)
    ex = excluded(out)
    assert "known-bad" in ex["train-dia0125-utt03"]
    assert ex["dev-dia0110-utt07"].startswith("media missing")
    assert "unknown emotion 'confused'" in ex["train-dia0309-utt01"]
    assert ex["train-dia0309-utt01"].startswith("train/train_sent_emo.csv:12:")      # file:line
    # The duplicate row is keyed by its line; the first row keeps the key.
    assert "second row for train-dia0309-utt01 (first at line 12)" in ex["train-line00013"]
    assert "expected 11 fields, got 6" in ex["train-line00014"]
    assert len(ex) == 5
    notes = (out / "notes").read_text()
    assert "AppleDouble ._* files 1" in notes
    assert "final_videos_test* duplicates 1" in notes
    assert "clips without a CSV row 1" in notes
    assert "other files 1" in notes
    warnings = (out / "warnings").read_text()
    assert "dia999_utt0" in warnings
    # Long clips are kept and listed; the zero-length one is listed in odd_times.
    assert read_kv(out / "long_clips") == {"train-dia0309-utt00": "41.040", "test-dia0038-utt04": "304.940"}
    assert "test-dia0155-utt03" in read_kv(out / "odd_times")
    assert "train-dia0309-utt00" in read_kv(out / "utt2spk")


@needs_ffmpeg
def test_meld_wav_scp_pipe_decodes_to_16k_mono(meld_raw, tmp_path, ffmpeg_on_path):
    out = tmp_path / "meld"
    dd = meld.prepare(meld_raw, out)
    wav = read_kv(out / "wav.scp")
    assert set(wav) == set(dd.utt2spk)
    clip = meld_raw / "dev_splits_complete" / "dia0_utt1.mp4"
    assert wav["dev-dia0000-utt01"] == f"ffmpeg -nostdin -v error -i {clip} -vn -ac 1 -ar 16000 -f wav - |"
    cmd = wav["dev-dia0000-utt01"].rstrip()
    assert cmd.endswith("|")
    proc = subprocess.run(["bash", "-c", cmd[:-1]], capture_output=True, check=True)
    data, sr = sf.read(io.BytesIO(proc.stdout), always_2d=True)
    assert sr == 16000 and data.shape[1] == 1
    assert abs(len(data) - 0.3 * 16000) < 0.05 * 16000
    assert np.abs(data).max() > 0.05                      # the sine (amplitude 1/8), not silence


@needs_ffmpeg
def test_meld_text_repair(meld_raw, tmp_path, ffmpeg_on_path):
    out = tmp_path / "meld"
    meld.prepare(meld_raw, out)
    text = read_kv(out / "text")
    assert text["dev-dia0000-utt00"] == "Oh my God, he’s lost it.… He’s totally lost it."
    assert text["dev-dia0000-utt01"] == "What? “Really”—no way"          # NBSP + space -> one space
    assert text["train-dia0000-utt01"] == "You must’ve had your hands full."   # already fine: untouched
    assert not any("\x80" <= c <= "\x9f" or c == "\xa0" for t in text.values() for c in t)
    assert "3 rows had cp1252 mojibake" in (out / "warnings").read_text()


def test_meld_repair_text_edge_cases():
    assert meld.repair_text("it\x92s") == ("it’s", True)
    # A real U+2019 beside a mojibake U+0092 does not round-trip through Latin-1: mapped one by one.
    assert meld.repair_text("it’s and it\x92s")[0] == "it’s and it’s"
    # 0x81 is undefined in cp1252: left as it is, the rest repaired.
    assert meld.repair_text("a\x81b\x85")[0] == "a\x81b…"
    assert meld.repair_text("caf\xe9\xa0ok") == ("café ok", False)
    assert meld.speaker_id("Monica’s Date #1") == "Monicas_Date_1"
    assert meld.speaker_id("Zoë") == "Zoe"
    assert meld.speaker_id("...") == "unknown"
    assert meld.parse_time("0:06:52,412") == pytest.approx(412.412)
    assert meld.parse_time("garbage") is None
    assert meld.utt_key("dev", 3, 7) == "dev-dia0003-utt07"
    keys = [meld.utt_key("train", d, u) for d, u in [(2, 10), (10, 2), (2, 9), (100, 0)]]
    assert sorted(keys, key=str.encode) == [meld.utt_key("train", d, u) for d, u in
                                            sorted([(2, 10), (10, 2), (2, 9), (100, 0)])]


@needs_ffmpeg
def test_meld_6class(meld_raw, tmp_path, ffmpeg_on_path):
    out = tmp_path / "meld6"
    dd = meld.prepare(meld_raw, out, label_set="6class")
    assert (out / "labels").read_text().split() == ["neutral", "joy", "surprise", "anger", "sadness", "disgust"]
    assert "fear" not in dd.utt2emo.values()
    ex = excluded(out)
    assert ex["train-dia0007-utt02"] == "label fear not in the 6class label set"
    assert ex["dev-dia0111-utt00"] == "label fear not in the 6class label set"
    assert len(dd) == 15


@needs_ffmpeg
def test_meld_probe_media(meld_raw, tmp_path, ffmpeg_on_path):
    root = tmp_path / "copy"
    shutil.copytree(meld_raw, root)
    # A second broken clip that no table knows about: only --probe-media finds it.
    (root / "output_repeated_splits_test" / "dia0_utt1.mp4").write_bytes(b"\x00" * 64)
    dd = meld.prepare(root, tmp_path / "noprobe")
    assert "test-dia0000-utt01" in dd.utt2spk
    dd = meld.prepare(root, tmp_path / "probe", probe_media=True, probe_jobs=2)
    assert "test-dia0000-utt01" not in dd.utt2spk
    ex = excluded(tmp_path / "probe")
    assert ex["test-dia0000-utt01"].startswith("media undecodable")
    assert "known-bad" in ex["train-dia0125-utt03"]
    assert len(dd) == 16
    # An empty clip is excluded even without probing.
    (root / "output_repeated_splits_test" / "dia0_utt1.mp4").write_bytes(b"")
    meld.prepare(root, tmp_path / "empty")
    assert excluded(tmp_path / "empty")["test-dia0000-utt01"].startswith("media empty")


@needs_ffmpeg
def test_meld_text_only_and_stale_files(meld_raw, tmp_path, ffmpeg_on_path):
    out = tmp_path / "meld"
    meld.prepare(meld_raw, out)
    assert (out / "wav.scp").is_file()
    # --text-only into the same dir: no stale wav.scp, and media problems no longer exclude anything.
    dd = meld.prepare(meld_raw, out, text_only=True)
    assert not (out / "wav.scp").exists()
    assert {"train-dia0125-utt03", "dev-dia0110-utt07"} <= set(dd.utt2spk)
    assert len(dd) == 19
    assert check_data_dir(out, no_wav=True).ok


def test_meld_csv_only_is_text_only(tmp_path):
    csvdir = tmp_path / "MELD"
    write_csv(csvdir / "train_sent_emo.csv", TRAIN_ROWS)
    write_csv(csvdir / "dev_sent_emo.csv", DEV_ROWS)
    write_csv(csvdir / "test_sent_emo.csv", TEST_ROWS)
    out = tmp_path / "out"
    dd = meld.prepare(csvdir, out)
    assert not (out / "wav.scp").exists() and not dd.wav_scp
    assert "mode: text-only" in (out / "notes").read_text()
    assert "no media folders" in (out / "warnings").read_text()
    assert {"train-dia0125-utt03", "dev-dia0110-utt07"} <= set(dd.utt2spk)
    assert len(dd) == 19
    assert check_data_dir(out, no_wav=True).ok


def test_meld_dialogues_in_utterance_id_order(tmp_path):
    csvdir = tmp_path / "MELD"
    # Rows out of order, and Utterance_ID 100: its key `utt100` sorts before `utt99` in C order.
    rows = [row(1, "Later.", "Ross", "neutral", 3, 100), row(2, "First.", "Rachel", "joy", 3, 2),
            row(3, "Then.", "Ross", "anger", 3, 99), row(4, "Other.", "Joey", "joy", 4, 0)]
    write_csv(csvdir / "train_sent_emo.csv", rows)
    write_csv(csvdir / "dev_sent_emo.csv", DEV_ROWS)
    write_csv(csvdir / "test_sent_emo.csv", TEST_ROWS)
    meld.prepare(csvdir, tmp_path / "out")
    data = DataDir.load(tmp_path / "out")
    assert data.extra["utt2turn"]["train-dia0003-utt100"] == "100"
    order = dialogues(data)
    assert order["train-dia0003"] == ["train-dia0003-utt02", "train-dia0003-utt99", "train-dia0003-utt100"]
    assert order["train-dia0004"] == ["train-dia0004-utt00"]
    assert order["dev-dia0110"] == ["dev-dia0110-utt06", "dev-dia0110-utt07"]
    assert dialogue_split_violations({s: data.filter(lambda u, s=s: u.startswith(s + "-"))
                                      for s in ("train", "dev", "test")}) == []


def test_meld_layout_errors(tmp_path):
    with pytest.raises(CorpusError, match="no train_sent_emo.csv"):
        meld.prepare(tmp_path, tmp_path / "out")
    for d in ("a", "b"):                                    # two copies at the same depth
        for split, rows in (("train", TRAIN_ROWS), ("dev", DEV_ROWS), ("test", TEST_ROWS)):
            write_csv(tmp_path / d / f"{split}_sent_emo.csv", rows)
    with pytest.raises(CorpusError, match="same depth"):
        meld.prepare(tmp_path, tmp_path / "out")
    # A missing required column names the file and line 1.
    bad = tmp_path / "a" / "dev_sent_emo.csv"
    bad.write_text("Sr No.,Utterance,Speaker\n1,Hi,Ross\n")
    with pytest.raises(CorpusError, match=r"dev_sent_emo.csv:1: header lacks column\(s\) Emotion"):
        meld.prepare(tmp_path / "a", tmp_path / "out")


@needs_ffmpeg
def test_meld_partial_media_is_an_error(tmp_path):
    root = tmp_path / "MELD.Raw"
    for split, rows in (("train", TRAIN_ROWS), ("dev", DEV_ROWS), ("test", TEST_ROWS)):
        write_csv(root / f"{split}_sent_emo.csv", rows)
    (root / "train_splits").mkdir()
    make_clip(FFMPEG, root / "train_splits" / "dia0_utt0.mp4")
    with pytest.raises(CorpusError, match="dev_splits_complete, output_repeated_splits_test"):
        meld.prepare(root, tmp_path / "out")
    assert len(meld.prepare(root, tmp_path / "out", text_only=True)) == 19


# ---- the real CSVs (GitHub copy, GPL-3.0), when present

real_csvs = pytest.mark.skipif(not (REAL_MELD / "data" / "MELD" / "train_sent_emo.csv").is_file(),
                               reason=f"real MELD CSVs not found under {REAL_MELD}")


@real_csvs
def test_meld_real_csvs_text_only(tmp_path):
    csvdir = REAL_MELD / "data" / "MELD"
    out = tmp_path / "meld"
    dd = meld.prepare(csvdir, out)
    assert not (out / "wav.scp").exists()
    split = read_kv(out / "utt2split")
    assert Counter(split.values()) == {"train": 9989, "valid": 1109, "test": 2610}
    emo = read_kv(out / "utt2emo")
    for name, fold in (("train", "train"), ("dev", "valid"), ("test", "test")):
        with open(csvdir / f"{name}_sent_emo.csv", encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        assert Counter(r["Emotion"] for r in rows) == Counter(emo[u] for u in emo if split[u] == fold)
        n_dialogues = len({r["Dialogue_ID"] for r in rows})
        assert len({v for u, v in read_kv(out / "utt2dialog").items() if split[u] == fold}) == n_dialogues
    assert Counter(emo[u] for u in emo if split[u] == "train") == {
        "neutral": 4710, "joy": 1743, "surprise": 1205, "anger": 1109, "sadness": 683, "disgust": 271,
        "fear": 268}
    assert excluded(out) == {}
    assert set(read_kv(out / "long_clips")) == {"test-dia0038-utt04", "test-dia0220-utt00", "train-dia0309-utt00"}
    assert set(read_kv(out / "odd_times")) == {"test-dia0155-utt03"}
    assert check_data_dir(out, no_wav=True).ok
    # The paper's 6-class pool: 13,708 - 358 fear = 13,350.
    dd6 = meld.prepare(csvdir, tmp_path / "meld6", label_set="6class")
    assert len(dd6) == 13350 and len(excluded(tmp_path / "meld6")) == 358
    assert len(dd) == 13708


@real_csvs
def test_meld_real_legacy_csvs_repair_to_current_text(tmp_path):
    legacy = REAL_MELD / "legacy-2019-a36f437"
    if not legacy.is_dir():
        pytest.skip("legacy-2019 CSVs not staged")
    # The folder above holds both copies: the nearer (current) one is used and the other reported.
    meld.prepare(REAL_MELD, tmp_path / "current")
    assert "another copy of train_sent_emo.csv" in (tmp_path / "current" / "warnings").read_text()
    meld.prepare(legacy, tmp_path / "legacy")
    cur, old = read_kv(tmp_path / "current" / "text"), read_kv(tmp_path / "legacy" / "text")
    assert cur.keys() == old.keys()
    assert [u for u in cur if cur[u] != old[u]] == []
    assert read_kv(tmp_path / "current" / "utt2spk") == read_kv(tmp_path / "legacy" / "utt2spk")


# =================================================================================================
# CMU-MOSEI miniature (fakes/mosei.py)

def test_mosei_default(mosei_corpus, tmp_path):
    out = tmp_path / "mosei"
    folds = mosei_corpus.parent / "mosei_folds.json"
    dd = mosei.prepare(mosei_corpus.parent, out, folds=folds)
    assert set(dd.utt2spk) == {"v81406-000", "v81406-001", "v-3g5yACwYnA-000", "v-3g5yACwYnA-001",
                               "vaValidVid01-000"}
    res = check_data_dir(out)
    assert res.ok, res.errors
    assert not any("sorted by speaker" in w for w in res.warnings)      # keys are speaker-prefixed
    assert read_kv(out / "utt2emo") == {"v81406-000": "sad", "v81406-001": "happy",
                                        "v-3g5yACwYnA-000": "fear", "v-3g5yACwYnA-001": "surprise",
                                        "vaValidVid01-000": "anger"}
    assert (out / "labels").read_text().split() == ["happy", "sad", "anger", "surprise", "disgust", "fear"]
    assert read_kv(out / "utt2split") == {"v81406-000": "train", "v81406-001": "train",
                                          "v-3g5yACwYnA-000": "test", "v-3g5yACwYnA-001": "test",
                                          "vaValidVid01-000": "valid"}
    assert read_kv(out / "utt2spk")["v-3g5yACwYnA-001"] == "v-3g5yACwYnA"          # speaker = video
    assert read_kv(out / "utt2dialog")["v81406-001"] == "v81406"
    # Turn = the label row's start as given (segments clamps -0.48 to 0 below).
    assert read_kv(out / "utt2turn") == {"v81406-000": "-0.480", "v81406-001": "3.000",
                                         "v-3g5yACwYnA-000": "0.000", "v-3g5yACwYnA-001": "1.500",
                                         "vaValidVid01-000": "0.000"}
    assert dialogues(DataDir.load(out)) == {"v-3g5yACwYnA": ["v-3g5yACwYnA-000", "v-3g5yACwYnA-001"],
                                            "v81406": ["v81406-000", "v81406-001"],
                                            "vaValidVid01": ["vaValidVid01-000"]}
    assert read_kv(out / "text")["v81406-001"] == "it was great _____ really"    # split with maxsplit
    seg = read_kv(out / "segments")
    assert seg["v81406-000"] == "v81406 0.000 2.500"                             # -0.48 clamped to 0
    assert seg["v81406-001"] == "v81406 3.000 5.000"                             # label times, not transcript's
    assert seg["v-3g5yACwYnA-001"] == "v-3g5yACwYnA 1.500 3.000"                 # clamped to the audio
    wav = read_kv(out / "wav.scp")
    assert wav == {"v81406": str(mosei_corpus / "Raw/Audio/Full/WAV_16000/81406.wav"),
                   "v-3g5yACwYnA": str(mosei_corpus / "Raw/Audio/Full/WAV_16000/-3g5yACwYnA.wav"),
                   "vaValidVid01": str(mosei_corpus / "Raw/Audio/Full/WAV_16000/aValidVid01.wav")}
    assert read_kv(out / "reco2dur") == {"v81406": "15.000", "v-3g5yACwYnA": "3.000", "vaValidVid01": "2.000"}
    ex = excluded(out)
    assert ex == {
        "v81406-002": "tie between happy,anger at 1.000 (--tie exclude)",
        "v81406-003": "no emotion: all six intensities are 0 (--zero exclude)",
        "v81406-004": "transcript clip 4 has no label row in CMU_MOSEI_Labels.csd",
        "v81406-row004": "label row 4 [10.000, 11.000]: no transcript clip within 0.05 s",
        "vZx_9nofoldQ-000": "video Zx_9nofoldQ is in no standard fold",
        "vnoTranscrpt-row000": "no transcript file CMU_MOSEI/Raw/Transcript/Segmented/Combined/noTranscrpt.txt",
    }
    notes = (out / "notes").read_text()
    for line in ("ties excluded: 1", "all-zero rows excluded: 1", "negative starts clamped to 0: 1",
                 "label rows without a transcript clip: 1", "transcript clips without a label row: 1",
                 "segments of videos in no fold: 1", "videos in the labels but in no fold: 1",
                 "utterances: train 2, valid 1, test 2", "speaker = video"):
        assert line in notes, line
    assert not (out / "utt2emo_multi").exists()
    # The cut audio really is the segment.
    loaded = DataDir.load(out)
    from mer.data.audio import load_utterance
    assert len(load_utterance(loaded, "v81406-001")) == 2 * SR
    assert len(load_utterance(loaded, "v81406-000")) == int(2.5 * SR)


def test_mosei_tie_first_zero_neutral_multi_label(mosei_corpus, tmp_path):
    out = tmp_path / "mosei"
    folds = mosei_corpus.parent / "mosei_folds.json"
    dd = mosei.prepare(mosei_corpus, out, folds=folds, tie="first", zero="neutral", multi_label=True)
    assert (out / "labels").read_text().split() == ["happy", "sad", "anger", "surprise", "disgust", "fear",
                                                    "neutral"]
    emo = read_kv(out / "utt2emo")
    assert emo["v81406-002"] == "happy"            # tie happy/anger -> first in LABELS order
    assert emo["v81406-003"] == "neutral"
    multi = read_kv(out / "utt2emo_multi")
    assert multi == {"v81406-000": "sad", "v81406-001": "happy,sad", "v81406-002": "happy,anger",
                     "v81406-003": "neutral", "v-3g5yACwYnA-000": "fear", "v-3g5yACwYnA-001": "surprise,disgust",
                     "vaValidVid01-000": "anger"}
    assert set(multi) == set(dd.utt2spk)
    notes = (out / "notes").read_text()
    assert "ties resolved to the first label: 1" in notes and "all-zero rows labelled neutral: 1" in notes
    assert "overlapping segment pairs (kept): 1" in notes        # clips 1 (3-5 s) and 2 (4.5-7 s)
    assert check_data_dir(out).ok
    # A higher threshold; then a rerun without --multi-label leaves no stale utt2emo_multi.
    mosei.prepare(mosei_corpus, out, folds=folds, tie="first", multi_label=True, threshold=0.5)
    multi = read_kv(out / "utt2emo_multi")
    assert multi["v81406-001"] == "happy" and multi["v-3g5yACwYnA-000"] == "none"
    mosei.prepare(mosei_corpus, out, folds=folds)
    assert not (out / "utt2emo_multi").exists()


def test_mosei_text_only_and_folds_formats(mosei_corpus, tmp_path):
    # No WAV_16000 folder: text-only.
    root = tmp_path / "noaudio"
    shutil.copytree(mosei_corpus, root, ignore=shutil.ignore_patterns("WAV_16000"))
    sdk = tmp_path / "cmu_mosei_std_folds.py"          # the SDK's own format, parsed, not executed
    sdk.write_text("".join(f"standard_{k}_fold={v!r}\n\n" for k, v in FOLDS.items()))
    out = tmp_path / "mosei"
    dd = mosei.prepare(root, out, folds=sdk)
    assert not (out / "wav.scp").exists() and not (out / "segments").exists()
    assert len(dd) == 5 and "mode: text-only" in (out / "notes").read_text()
    assert check_data_dir(out, no_wav=True).ok
    assert mosei_folds.load_folds(sdk) == FOLDS
    # Numeric ids written as JSON numbers are read as strings, and reported.
    js = tmp_path / "num.json"
    js.write_text(json.dumps({"train": [81406], "valid": [], "test": [DASH]}))
    assert mosei_folds.load_folds(js)["train"] == ["81406"]
    mosei.prepare(root, out, folds=js)
    assert "JSON numbers" in (out / "warnings").read_text()


def test_mosei_folds_errors_and_cli(tmp_path, mosei_corpus):
    with pytest.raises(CorpusError, match="needs --folds"):
        mosei.prepare(mosei_corpus, tmp_path / "out")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"train": ["a", "b"], "valid": ["b"], "test": []}))
    with pytest.raises(CorpusError, match="video b is in train and again in valid"):
        mosei.prepare(mosei_corpus, tmp_path / "out", folds=bad)
    bad.write_text(json.dumps({"train": [], "test": []}))
    with pytest.raises(mosei_folds.FoldsError, match="lacks valid"):
        mosei_folds.load_folds(bad)
    sdk = tmp_path / "std.py"
    sdk.write_text(f"standard_train_fold={FOLDS['train']!r}\nstandard_valid_fold=[]\nstandard_test_fold=['x']\n")
    r = subprocess.run([sys.executable, "-m", "mer.data.corpora.mosei_folds", str(sdk)],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"train": FOLDS["train"], "valid": [], "test": ["x"]}


def test_mosei_samples_emotion_with_folds_marks_videos_in_no_fold(mosei_corpus, tmp_path):
    """--samples emotion keeps the video in no standard fold; utt2split still covers it (`none`)."""
    out = tmp_path / "mosei"
    mosei.prepare(mosei_corpus, out, folds=mosei_corpus.parent / "mosei_folds.json", samples="emotion")
    split = read_kv(out / "utt2split")
    assert split["vZx_9nofoldQ-000-happy"] == "none" and split["vaValidVid01-000-anger"] == "valid"
    assert set(split) == set(read_kv(out / "utt2emo"))


def test_mosei_ids():
    assert mosei.video_key("81406") == "v81406"
    assert mosei.utt_key(DASH, 7) == "v-3g5yACwYnA-007"
    for vid in ("81406", DASH, "_dI--eQ6qVU", "a b/ü"):
        key = mosei.video_key(vid)
        assert not any(c.isspace() for c in key) and key.startswith("v")
        assert mosei.video_of_key(key) == vid
        assert mosei.video_of_utt(mosei.utt_key(vid, 12)) == vid
    assert mosei.video_key("a b") == "va%20b"


def test_mosei_decide():
    v = np.array
    assert mosei.decide(v([0, 0.667, 0, 0, 0, 0]), "exclude", "exclude") == ("sad", "ok")
    assert mosei.decide(v([0.333, 0, 0, 0.333, 0, 0]), "exclude", "exclude") == (None, "tie")
    assert mosei.decide(v([0.333, 0, 0, 0.333, 0, 0]), "first", "exclude") == ("happy", "tie")
    assert mosei.decide(v([0, 0, 0, 0, 0, 0]), "first", "exclude") == (None, "zero")
    assert mosei.decide(v([0, 0, 0, 0, 0, 0]), "first", "neutral") == ("neutral", "zero")
    assert mosei.decide(v([np.nan, 1, 0, 0, 0, 0]), "first", "neutral") == (None, "bad")
    # float32 noise is not a tie breaker
    assert mosei.decide(np.float32([1 / 3, 0, np.float32(1 / 3) + 1e-7, 0, 0, 0]), "exclude", "exclude")[1] == "tie"


def test_options_from_add_arguments_reach_prepare(mosei_corpus, tmp_path):
    """Each option's dest is a keyword of prepare (how mer.bin.prepare_corpus calls it)."""
    import argparse
    p = argparse.ArgumentParser()
    meld.add_arguments(p)
    args = p.parse_args(["--label-set", "6class", "--text-only", "--max-dur", "40", "--long-clips", "exclude"])
    csvdir = tmp_path / "MELD"
    for split, rows in (("train", TRAIN_ROWS), ("dev", DEV_ROWS), ("test", TEST_ROWS)):
        write_csv(csvdir / f"{split}_sent_emo.csv", rows)
    meld.prepare(csvdir, tmp_path / "meld", **vars(args))
    ex = excluded(tmp_path / "meld")
    assert ex["test-dia0038-utt04"] == "CSV duration 304.940 s > --max-dur 40 s"
    assert ex["train-dia0309-utt00"] == "CSV duration 41.040 s > --max-dur 40 s"
    assert ex["train-dia0007-utt02"] == "label fear not in the 6class label set"
    assert not (tmp_path / "meld" / "wav.scp").exists()
    p = argparse.ArgumentParser()
    mosei.add_arguments(p)
    args = p.parse_args(["--folds", str(mosei_corpus.parent / "mosei_folds.json"), "--tie", "first",
                         "--zero", "neutral", "--multi-label", "--threshold", "0.5", "--tolerance", "0.005"])
    dd = mosei.prepare(mosei_corpus, tmp_path / "mosei", **vars(args))
    # With 0.005 s the transcript times 0.01-0.02 s off no longer match their label rows.
    assert set(dd.utt2spk) == {"v81406-002", "v81406-003", "v-3g5yACwYnA-000", "vaValidVid01-000"}
    ex = excluded(tmp_path / "mosei")
    assert {"v81406-row000", "v81406-row001", "v-3g5yACwYnA-row001", "v81406-000", "v81406-001"} <= set(ex)
    assert (tmp_path / "mosei" / "utt2emo_multi").is_file()


def test_meld_empty_utterance_is_text_missing(tmp_path):
    csvdir = tmp_path / "MELD"
    write_csv(csvdir / "train_sent_emo.csv", TRAIN_ROWS[:2] + [row(9, " \xa0 ", "Ross", "neutral", 1, 0)])
    write_csv(csvdir / "dev_sent_emo.csv", DEV_ROWS[:1])
    write_csv(csvdir / "test_sent_emo.csv", TEST_ROWS[:1])
    dd = meld.prepare(csvdir, tmp_path / "out")
    assert dd.text["train-dia0001-utt00"] == ""
    assert read_kv(tmp_path / "out" / "text_missing") == {
        "train-dia0001-utt00": "train_sent_emo.csv:4: empty Utterance"}


def test_mosei_columns_taken_by_dimension_names(tmp_path):
    """A labels file whose metadata names the columns in another order is read by name."""
    h5py = pytest.importorskip("h5py")
    root = tmp_path / "m"
    tdir = root / "Raw" / "Transcript" / "Segmented" / "Combined"
    tdir.mkdir(parents=True)
    (tdir / "abcdefghijk.txt").write_text("abcdefghijk___0___0.0___1.0___hi\n")
    with h5py.File(root / "CMU_MOSEI_Labels.csd", "w") as f:
        top = f.create_group("All Labels")
        g = top.create_group("data").create_group("abcdefghijk")
        g.create_dataset("intervals", data=np.array([[0.0, 1.0]]))
        # columns: sentiment, fear, disgust, surprise, anger, sad, happy  (reversed emotions)
        g.create_dataset("features", data=np.array([[0.0, 2.0, 0, 0, 0, 0, 1.0]]))
        ds = top.create_group("metadata").create_dataset("dimension names", (1,), dtype=h5py.special_dtype(vlen=str))
        ds[0] = json.dumps(["sentiment", "fear", "disgust", "surprise", "anger", "sadness", "happiness"])
    folds = tmp_path / "f.json"
    folds.write_text(json.dumps({"train": ["abcdefghijk"], "valid": [], "test": []}))
    dd = mosei.prepare(root, tmp_path / "out", folds=folds)
    assert dd.utt2emo == {"vabcdefghijk-000": "fear"}
    assert "taken by name" in (tmp_path / "out" / "warnings").read_text()
