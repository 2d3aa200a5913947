"""A fake MELD: the three annotation CSVs with MELD's pitfalls (cp1252 mojibake in the 2019 dev CSV,
repeated Sr No., a duplicate (dialogue, utterance), a short row, free-text speakers, a 41 s and a
5 min clip, a zero-length clip, an unknown emotion) and, with `media=True`, MELD.Raw's clip folders
(0.3 s mp4s made with ffmpeg; a missing clip, a broken one, AppleDouble and __MACOSX junk, a clip
without a CSV row, final_videos_test* duplicates)."""
from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
from pathlib import Path


def find_ffmpeg() -> str | None:
    venv_ffmpeg = Path(sys.executable).parent / "ffmpeg"
    if venv_ffmpeg.exists():
        return str(venv_ffmpeg)
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:
        return shutil.which("ffmpeg")


HEADER = ["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID",
          "Season", "Episode", "StartTime", "EndTime"]


def row(sr, text, spk, emo, dia, utt, t0="00:01:00,000", t1="00:01:02,500"):
    sentiment = {"joy": "positive", "neutral": "neutral"}.get(emo, "negative")
    return [str(sr), text, spk, emo, sentiment, str(dia), str(utt), "3", "7", t0, t1]


def write_csv(path: Path, rows, raw_lines=()):
    """CSV as distributed: CRLF line ends, times quoted (they contain a comma)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(HEADER)
    for r in rows:
        w.writerow(r)
    text = buf.getvalue() + "".join(line + "\r\n" for line in raw_lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))


# Train: dialogue 0 (utt 0-2), dialogue 7 with a gap in Utterance_ID (0, 2), dialogue 125 whose
# utt 3 is the known-broken clip, a fear row, a free-text multi-person speaker, a 41 s clip,
# Sr No. repeated (not a key), an unknown emotion, a duplicate (dia, utt) and a short row.
TRAIN_ROWS = [
    row(1, "also I was the point person on my company’s transition.", "Chandler", "neutral", 0, 0),
    row(2, "You must’ve had your hands full.", "The Interviewer", "neutral", 0, 1),
    row(3, "That I did.", "Chandler", "joy", 0, 2),
    row(4, "Hey!", "Joey and Ross", "surprise", 7, 0),
    row(4, "Who's there?", "Dr. Green", "fear", 7, 2),                   # Sr No. 4 again
    row(10, "A bra.", "Emily", "joy", 125, 0),
    row(11, "Mommy can have a wife.", "Ross", "neutral", 125, 1),
    row(12, "No way.", "Emily", "anger", 125, 2),
    row(13, "The broken clip.", "Ross", "sadness", 125, 3),
    row(14, "A very long speech.", "Monica", "disgust", 309, 0, "00:10:00,000", "00:10:41,040"),
    row(15, "Huh?", "Monica", "confused", 309, 1),
    row(16, "Again?", "Monica", "neutral", 309, 1),                        # duplicate of dia309_utt1
]
TRAIN_BAD_LINES = ['17,"Too short",Rachel,joy,positive,310']                # 6 of 11 fields

# Dev: the old (2019) kind of CSV, cp1252 bytes read as Latin-1 then saved as UTF-8: U+0092 for the
# apostrophe, U+0085 for "...", U+0097 for a dash, U+0093/U+0094 quotes, and a U+00A0 space.
DEV_ROWS = [
    row(1, "Oh my God, he\x92s lost it.\x85 He\x92s totally lost it.", "Phoebe", "sadness", 0, 0),
    row(2, "What?\xa0 \x93Really\x94\x97no way", "Monica", "surprise", 0, 1),
    row(3, "Did they tell you anything?", "Phoebe", "neutral", 110, 6),
    row(4, "Nothing.", "Rachel", "neutral", 110, 7),                       # clip missing from MELD.Raw
    row(5, "I\x92m scared.", "Rachel", "fear", 111, 0),
]

TEST_ROWS = [
    row(1, "Why do all your coffee mugs have numbers on the bottom?", "Mark", "surprise", 0, 0),
    row(2, "Oh. That’s so Monica can keep track.", "Rachel", "anger", 0, 1),
    row(3, "A segmentation error.", "Ross", "neutral", 38, 4, "00:05:00,000", "00:10:04,940"),
    row(4, "Zero length.", "Joey", "joy", 155, 3, "0:03:00,100", "0:03:00,100"),   # one-digit hours
]


def make_clip(ffmpeg: str, path: Path) -> None:
    """A 0.3 s mp4 with a 44.1 kHz sine (AAC) and a 32x32 test picture, like MELD's clips."""
    for vcodec in ("libx264", "mpeg4"):
        r = subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y",
                            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=0.3",
                            "-f", "lavfi", "-i", "testsrc=size=32x32:rate=10:duration=0.3",
                            "-c:v", vcodec, "-c:a", "aac", "-ac", "2", "-shortest", str(path)],
                           capture_output=True)
        if r.returncode == 0:
            return
    raise RuntimeError(f"ffmpeg could not make a test clip: {r.stderr.decode()[-300:]}")


def write_fake(root: Path, media: bool = False, ffmpeg: str | None = None) -> Path:
    """The corpus under `root`; returns the dir to prepare. media=False: the three CSVs in one
    folder (`root/MELD`, the layout of MELD's GitHub repository: text only). media=True: MELD.Raw
    as extracted (`root/MELD.Raw`: dev/test CSVs beside their clip folders, the train CSV inside
    train/), clips made with `ffmpeg` (default: found with find_ffmpeg)."""
    if not media:
        for split, rows in (("train", TRAIN_ROWS), ("dev", DEV_ROWS), ("test", TEST_ROWS)):
            write_csv(root / "MELD" / f"{split}_sent_emo.csv", rows, TRAIN_BAD_LINES if split == "train" else ())
        return root / "MELD"
    ffmpeg = ffmpeg or find_ffmpeg()
    if ffmpeg is None:
        raise RuntimeError("no ffmpeg to make the fake MELD clips (pip install imageio-ffmpeg)")
    proto = root / "proto.mp4"
    root = root / "MELD.Raw"
    root.mkdir(parents=True, exist_ok=True)
    make_clip(ffmpeg, proto)
    write_csv(root / "train" / "train_sent_emo.csv", TRAIN_ROWS, TRAIN_BAD_LINES)
    write_csv(root / "dev_sent_emo.csv", DEV_ROWS)
    write_csv(root / "test_sent_emo.csv", TEST_ROWS)
    clip_dirs = {"train": root / "train" / "train_splits", "dev": root / "dev_splits_complete",
             "test": root / "output_repeated_splits_test"}
    for split, rows in (("train", TRAIN_ROWS), ("dev", DEV_ROWS), ("test", TEST_ROWS)):
        clip_dirs[split].mkdir(parents=True, exist_ok=True)
        for r in rows:
            name = f"dia{r[5]}_utt{r[6]}.mp4"
            if (split, name) == ("dev", "dia110_utt7.mp4"):
                continue                                       # missing from the archive
            shutil.copyfile(proto, clip_dirs[split] / name)
    # train dia125_utt3 is broken: truncated mp4 ("moov atom not found")
    (clip_dirs["train"] / "dia125_utt3.mp4").write_bytes(proto.read_bytes()[:100])
    (clip_dirs["train"] / "._dia0_utt0.mp4").write_bytes(b"\x00\x05\x16\x07AppleDouble junk")
    shutil.copyfile(proto, clip_dirs["train"] / "dia999_utt0.mp4")          # clip without a CSV row
    shutil.copyfile(proto, clip_dirs["test"] / "final_videos_testdia0_utt0.mp4")
    (clip_dirs["dev"] / "README.txt").write_text("not a clip\n")
    macosx = root / "__MACOSX" / "dev_splits_complete"                   # macOS zip junk folder
    macosx.mkdir(parents=True)
    (macosx / "._dia0_utt0.mp4").write_bytes(b"junk")
    return root
