"""MELD (declare-lab): Friends dialogues, 7 emotions, official train/dev/test split.

Input, located recursively under `corpus_dir` (the CSV folder, `MELD.Raw/`, or anything above them):
  train_sent_emo.csv  dev_sent_emo.csv  test_sent_emo.csv
  train_splits/  dev_splits_complete/  output_repeated_splits_test/      (clips dia{D}_utt{U}.mp4)
With only the CSVs (e.g. the GitHub copy) a text-only data dir is written (no wav.scp); the `notes`
file says so.  When a name occurs more than once, the copy nearest to `corpus_dir` is used and the
others are listed in `notes` (so `.../meld` holding `data/MELD` and `legacy-*/data/MELD` takes
`data/MELD`); two copies at the same depth are an error.

Decisions (see also corpora.md section 3):
- Utterance key `{split}-dia{DDDD}-utt{UU}` with MELD's split names (train/dev/test): `dia{D}_utt{U}`
  repeats across splits, and zero padding (dialogues < 10000, utterances < 100 in MELD) makes C order
  the natural order.  `utt2split` maps MELD's dev to `valid`.  `utt2dialog` = `{split}-dia{DDDD}`,
  `utt2turn` = MELD's Utterance_ID (not contiguous: sort by it, never assume 0..n-1).
- Speaker = MELD's free-text speaker string reduced to [A-Za-z0-9_] ("Joey and Ross" -> Joey_and_Ross);
  `spk2name` keeps the original string(s).  MELD speakers are TV characters shared by all splits and
  include one-off names, so they are not a unit for speaker-independent folds: use the official split.
  Keys do not start with the speaker, so Kaldi's validate_data_dir.sh needs `--no-spk-sort`.
- Labels (`LABELS`, fixed order): neutral joy surprise anger sadness disgust fear.  `--label-set 6class`
  drops fear (cnn-bert-attention paper); its rows go to `excluded`.
- Text: cp1252 bytes that old CSV copies carry as C1 characters (U+0092 for an apostrophe, ...) are
  repaired with `s.encode('latin-1').decode('cp1252')`; when a line mixes them with characters outside
  Latin-1 the C1 characters are mapped one by one; U+00A0 and other white space runs become one space.
- Audio: `wav.scp` holds `ffmpeg -nostdin -v error -i <abs mp4> -vn -ac 1 -ar 16000 -f wav - |`;
  `ffmpeg` is looked up on PATH when the pipe runs (recipes put .venv/bin first).
- Media problems: train dia125_utt3 is broken in every copy (known-bad table, always excluded when
  audio is used); a missing or empty clip is excluded ("media missing"/"media empty"); `--probe-media`
  also decodes every clip's first audio stream once (`ffmpeg -v error -i clip -map 0:a:0 -f null -`;
  audio only, so it is quicker than decoding the video) and excludes those ffmpeg cannot read.  `final_videos_test*`
  duplicates, `._*` AppleDouble files, `__MACOSX/` and clips without a CSV row are ignored and counted
  in `notes`.  None of these matter for a text-only dir, which keeps every annotated row.
- Odd durations (from the CSV Start/EndTime): clips longer than `--max-dur` (default 30 s; test
  dia38_utt4 is ~305 s, a segmentation error) are kept by default and listed in `long_clips`
  (`--long-clips exclude` drops them instead); zero or negative CSV durations (test dia155_utt3) are
  listed in `odd_times`.  The CSV times say how long the clip is meant to be, not what the mp4 holds,
  so nothing is cut.
Protocols: `official` (default; MELD's train/dev/test) and `resplit` (the cnn-bert-attention paper's).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import csv
import io
import logging
import os
import re
import shlex
import shutil
import subprocess
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

from mer.data.corpora.common import (CorpusError, PrepReport, decode_sniffed, pick_nearest, resolve_corpus_dir,
                                     walk_corpus, write_lines, write_prepared)
from mer.data.corpora.fakes.meld import write_fake  # noqa: F401  (the interface: a fake copy for tests)
from mer.data.corpora.registry import CorpusInfo
from mer.data.datadir import DataDir
from mer.data.protocols import Fold, Protocol, ProtocolError, official_protocol, stratified_resplit
from mer.data.kaldi_io import c_sort_key

log = logging.getLogger(__name__)

LABELS = ("neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear")
LABEL_SETS = {"7class": LABELS, "6class": tuple(lab for lab in LABELS if lab != "fear")}

SPLITS = ("train", "dev", "test")                       # MELD's names, used in keys
SPLIT_TO_FOLD = {"train": "train", "dev": "valid", "test": "test"}
CSV_NAMES = {s: f"{s}_sent_emo.csv" for s in SPLITS}
MEDIA_DIRS = {"train": "train_splits", "dev": "dev_splits_complete", "test": "output_repeated_splits_test"}

# Clips that are broken in every copy of MELD.Raw (reported by many recipes), keyed (split, dia, utt).
KNOWN_BAD = {("train", 125, 3): "media broken (known-bad: moov atom not found)"}

REQUIRED_COLUMNS = ("Utterance", "Speaker", "Emotion", "Dialogue_ID", "Utterance_ID")
CLIP_RE = re.compile(r"^dia(\d+)_utt(\d+)\.mp4$")
TIME_RE = re.compile(r"^\s*(\d+):(\d{1,2}):(\d{1,2})(?:[,.](\d{1,3}))?\s*$")
C1_RE = re.compile("[\u0080-\u009f]")



def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--label-set", choices=sorted(LABEL_SETS), default="7class",
                        help="7class (default) or 6class (fear dropped, as in the cnn-bert-attention paper)")
    parser.add_argument("--text-only", action="store_true",
                        help="write no wav.scp even if the media folders are present")
    parser.add_argument("--probe-media", action="store_true",
                        help="decode each clip's audio once with ffmpeg and exclude the unreadable ones (slow)")
    parser.add_argument("--probe-jobs", type=int, default=4, help="parallel ffmpeg probes (default 4)")
    parser.add_argument("--max-dur", type=float, default=30.0,
                        help="CSV duration (s) above which a clip is listed in long_clips; 0 disables (default 30)")
    parser.add_argument("--long-clips", choices=("keep", "exclude"), default="keep",
                        help="keep clips longer than --max-dur (default; listed in long_clips) or exclude them")


# ------------------------------------------------------------------------------------------------
# text helpers

def _c1_to_cp1252(ch: str) -> str:
    try:
        return bytes([ord(ch)]).decode("cp1252")
    except UnicodeDecodeError:          # 0x81 0x8D 0x8F 0x90 0x9D are undefined in cp1252
        return ch


def repair_text(s: str) -> tuple[str, bool]:
    """Undo cp1252-read-as-Latin-1 mojibake and normalise white space; returns (text, repaired)."""
    repaired = False
    if C1_RE.search(s):
        try:
            s = s.encode("latin-1").decode("cp1252")
        except UnicodeError:
            # Not a clean round trip (a real U+2019 beside a U+0092, or an undefined byte):
            # map only the C1 characters and leave everything else as it is.
            s = C1_RE.sub(lambda m: _c1_to_cp1252(m.group()), s)
        repaired = True
    # str.split() also splits on U+00A0 and U+0085, so this turns NBSP into a space.
    return " ".join(s.split()), repaired


def speaker_id(name: str) -> str:
    """A speaker string as a Kaldi-safe id: ASCII letters, digits and '_' ("Dr. Green" -> Dr_Green)."""
    s = unicodedata.normalize("NFKD", name)
    s = "".join(c for c in s if not unicodedata.combining(c))
    s = re.sub(r"['\u2018\u2019]", "", s)                # "Monica's" -> Monicas, not Monica_s
    s = re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_")
    return s or "unknown"


def parse_time(s: str) -> float | None:
    """`hh:mm:ss,mmm` (hours may have one digit) -> seconds; None if it does not parse."""
    m = TIME_RE.match(s or "")
    if not m:
        return None
    h, mi, sec, ms = m.groups()
    return int(h) * 3600 + int(mi) * 60 + int(sec) + (int(ms.ljust(3, "0")) / 1000 if ms else 0.0)


def utt_key(split: str, dia: int, utt: int) -> str:
    return f"{split}-dia{dia:04d}-utt{utt:02d}"


# ------------------------------------------------------------------------------------------------
# locating the corpus

def locate(corpus_dir: Path, report: PrepReport) -> tuple[dict[str, Path], dict[str, Path]]:
    """The three CSVs and whichever media folders (holding dia*_utt*.mp4) exist below corpus_dir."""
    csvs: dict[str, list[Path]] = defaultdict(list)
    media: dict[str, list[Path]] = defaultdict(list)
    csv_split = {name: split for split, name in CSV_NAMES.items()}
    media_split = {name: split for split, name in MEDIA_DIRS.items()}
    for d, dirnames, filenames in walk_corpus(corpus_dir):
        for f in filenames:
            if f in csv_split:
                csvs[csv_split[f]].append(d / f)
        if d.name in media_split and any(CLIP_RE.match(f) for f in filenames):
            media[media_split[d.name]].append(d)
            dirnames[:] = []                 # only clips below; no need to descend
    found_csv: dict[str, Path] = {}
    for split in SPLITS:
        p = pick_nearest(corpus_dir, CSV_NAMES[split], csvs[split], report)
        if p is None:
            raise CorpusError(f"{corpus_dir}: no {CSV_NAMES[split]} anywhere below it; is this MELD "
                              f"(the CSV folder, MELD.Raw, or a folder above them)?")
        found_csv[split] = p
    found_media = {}
    for split in SPLITS:
        p = pick_nearest(corpus_dir, MEDIA_DIRS[split] + "/", media[split], report)
        if p is not None:
            found_media[split] = p
    return found_csv, found_media


# ------------------------------------------------------------------------------------------------
# reading a CSV

def read_csv(path: Path, report: PrepReport):
    """Yield (line, row dict, None) per data row, or (line, None, problem) for a malformed one."""
    text, enc = decode_sniffed(path.read_bytes())
    if enc not in ("utf-8", "utf-8-sig"):
        report.warn(report.where(path), f"not UTF-8; read as {enc}")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise CorpusError(f"{path}:1: empty file, expected a header line") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise CorpusError(f"{path}:1: header lacks column(s) {', '.join(missing)}; found {header}")
    last = reader.line_num
    for fields in reader:
        line, last = last + 1, reader.line_num      # a quoted field may span lines: report the first
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            yield line, None, f"expected {len(header)} fields, got {len(fields)}"
            continue
        yield line, dict(zip(header, fields)), None


# ------------------------------------------------------------------------------------------------
# media

def ffmpeg_pipe(clip: Path) -> str:
    return f"ffmpeg -nostdin -v error -i {shlex.quote(str(clip))} -vn -ac 1 -ar 16000 -f wav - |"


def probe_clip(ffmpeg: str, clip: Path, timeout: float = 300.0) -> str | None:
    """None if ffmpeg decodes the clip's first audio stream, else a one-line reason."""
    cmd = [ffmpeg, "-nostdin", "-v", "error", "-i", str(clip), "-map", "0:a:0", "-f", "null", "-"]
    try:
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"probe timed out after {timeout:.0f} s"
    if r.returncode != 0:
        msg = r.stderr.decode("utf-8", "replace").strip().splitlines()
        return "media undecodable: " + (msg[-1] if msg else f"ffmpeg exit {r.returncode}")[:200]
    return None


def scan_media(media_dir: Path) -> tuple[dict[tuple[int, int], Path], Counter, set[tuple[int, int]]]:
    """Plain-named clips by (dia, utt), counts of ignored files, and (dia, utt) of final_videos twins."""
    clips: dict[tuple[int, int], Path] = {}
    ignored: Counter = Counter()
    twins: set[tuple[int, int]] = set()
    for entry in sorted(os.scandir(media_dir), key=lambda e: e.name):
        name = entry.name
        if name.startswith("._"):
            ignored["AppleDouble ._* files"] += 1
        elif name.startswith("final_videos_test"):
            ignored["final_videos_test* duplicates"] += 1
            m = CLIP_RE.match(name[len("final_videos_test"):])
            if m:
                twins.add((int(m.group(1)), int(m.group(2))))
        elif (m := CLIP_RE.match(name)) and not entry.is_dir():
            clips[(int(m.group(1)), int(m.group(2)))] = Path(media_dir, name)
        else:
            ignored["other files"] += 1
    return clips, ignored, twins


# ------------------------------------------------------------------------------------------------

def prepare(corpus_dir: Path, out_dir: Path, *, label_set: str = "7class", text_only: bool = False,
            probe_media: bool = False, probe_jobs: int = 4, max_dur: float = 30.0,
            long_clips: str = "keep") -> DataDir:
    """Write the MELD data dir `out_dir` (all three splits; `utt2split` says which) and return it."""
    if label_set not in LABEL_SETS:
        raise ValueError(f"unknown label set {label_set!r}; choose from {sorted(LABEL_SETS)}")
    if long_clips not in ("keep", "exclude"):
        raise ValueError(f"long_clips must be 'keep' or 'exclude', not {long_clips!r}")
    corpus_dir, out_dir = resolve_corpus_dir(corpus_dir, "MELD"), Path(out_dir)
    labels = LABEL_SETS[label_set]
    report = PrepReport(corpus_dir)
    csv_paths, media_dirs = locate(corpus_dir, report)

    if text_only:
        use_audio, mode = False, "text-only (--text-only): no wav.scp"
    elif not media_dirs:
        use_audio = False
        mode = ("text-only: no media folders (train_splits, dev_splits_complete, "
                "output_repeated_splits_test) below the corpus dir, so no wav.scp")
        report.warn(".", mode)
    elif len(media_dirs) < len(SPLITS):
        lacking = [MEDIA_DIRS[s] for s in SPLITS if s not in media_dirs]
        raise CorpusError(
            f"{corpus_dir}: found {', '.join(str(p) for p in media_dirs.values())} but no "
            f"{', '.join(lacking)} with clips dia*_utt*.mp4; extract all three parts of MELD.Raw "
            f"or pass --text-only")
    else:
        use_audio, mode = True, "audio+text (wav.scp holds ffmpeg pipes)"
    ffmpeg = shutil.which("ffmpeg")
    if use_audio and ffmpeg is None:
        if probe_media:
            raise CorpusError("ffmpeg is not on PATH; --probe-media needs it")
        report.warn(".", "ffmpeg is not on PATH now; the wav.scp pipes need it when they run")

    dd = DataDir()
    long_list: list[str] = []
    odd_list: list[str] = []
    spk_names: dict[str, set[str]] = defaultdict(set)
    repaired = Counter()
    ignored_total = Counter()
    to_probe: list[tuple[str, Path]] = []

    for split in SPLITS:
        path = csv_paths[split]
        clips: dict[tuple[int, int], Path] = {}
        twins: set[tuple[int, int]] = set()
        if use_audio:
            clips, ignored, twins = scan_media(media_dirs[split])
            for what, n in sorted(ignored.items()):
                report.warn(report.where(media_dirs[split]), f"ignored {n} {what}")
                ignored_total[what] += n
        seen: dict[tuple[int, int], int] = {}
        for line, row, problem in read_csv(path, report):
            where = report.where(path, line)
            if row is None:
                report.exclude(f"{split}-line{line:05d}", f"{where}: {problem}")
                continue
            try:
                dia, utt = int(row["Dialogue_ID"]), int(row["Utterance_ID"])
                if dia < 0 or utt < 0:
                    raise ValueError
            except ValueError:
                report.exclude(f"{split}-line{line:05d}", f"{where}: bad Dialogue_ID/Utterance_ID "
                                                          f"{row['Dialogue_ID']!r}/{row['Utterance_ID']!r}")
                continue
            key = utt_key(split, dia, utt)
            if (dia, utt) in seen:
                # Keyed by line: the key itself belongs to the first row, which is kept.
                report.exclude(f"{split}-line{line:05d}", f"{where}: second row for {key} "
                                                          f"(first at line {seen[(dia, utt)]})")
                continue
            seen[(dia, utt)] = line
            emo = row["Emotion"].strip().lower()
            if emo not in LABELS:
                report.exclude(key, f"{where}: unknown emotion {row['Emotion']!r}")
                continue
            if emo not in labels:
                report.exclude(key, f"label {emo} not in the {label_set} label set")
                continue
            text, fixed_text = repair_text(row["Utterance"])
            name, fixed_name = repair_text(row["Speaker"])
            repaired[split] += fixed_text or fixed_name
            t0, t1 = parse_time(row.get("StartTime", "")), parse_time(row.get("EndTime", ""))
            if t0 is None or t1 is None:
                odd_list.append(f"{key}\tunparsable StartTime/EndTime "
                                f"{row.get('StartTime')!r}/{row.get('EndTime')!r}")
            elif t1 - t0 <= 0:
                odd_list.append(f"{key}\tCSV duration {t1 - t0:.3f} s")
            elif max_dur > 0 and t1 - t0 > max_dur:
                long_list.append(f"{key}\t{t1 - t0:.3f}")
                if long_clips == "exclude":
                    report.exclude(key, f"CSV duration {t1 - t0:.3f} s > --max-dur {max_dur:g} s")
                    continue
            wav = None
            if use_audio:
                clip = clips.get((dia, utt))
                if (split, dia, utt) in KNOWN_BAD:
                    report.exclude(key, KNOWN_BAD[(split, dia, utt)])
                    continue
                if clip is None:
                    twin = " (a final_videos_test twin exists, not used)" if (dia, utt) in twins else ""
                    report.exclude(key, f"media missing: {MEDIA_DIRS[split]}/dia{dia}_utt{utt}.mp4{twin}")
                    continue
                if clip.stat().st_size == 0:
                    report.exclude(key, f"media empty (0 bytes): {MEDIA_DIRS[split]}/{clip.name}")
                    continue
                if probe_media:
                    to_probe.append((key, clip))
                wav = ffmpeg_pipe(clip.absolute())
            if not text:
                report.missing_text(key, f"{where}: empty Utterance")
            spk = speaker_id(name)
            spk_names[spk].add(name)
            dd.add(key, spk, wav=wav, text=text, emo=emo, dialog=f"{split}-dia{dia:04d}",
                   turn=str(utt), split=SPLIT_TO_FOLD[split])
        if repaired[split]:
            report.warn(report.where(path), f"{repaired[split]} rows had cp1252 mojibake (C1 characters); repaired")
        if use_audio:
            extra = sorted(set(clips) - set(seen))
            if extra:
                ignored_total["clips without a CSV row"] += len(extra)
                report.warn(report.where(media_dirs[split]),
                            f"ignored {len(extra)} clips without a CSV row: "
                            + " ".join(f"dia{d}_utt{u}" for d, u in extra[:20]) + (" ..." if len(extra) > 20 else ""))

    if to_probe:
        log.info("probing %d clips with %s", len(to_probe), ffmpeg)
        with concurrent.futures.ThreadPoolExecutor(max(1, probe_jobs)) as pool:
            bad = {key: why for key, why in pool.map(lambda kc: (kc[0], probe_clip(ffmpeg, kc[1])), to_probe)
                   if why}
        for key, why in bad.items():
            report.exclude(key, why)
        dd = dd.filter(lambda u: u not in bad)

    write_prepared(dd, out_dir, labels, report)
    used = sorted(set(dd.utt2spk.values()), key=c_sort_key)
    write_lines(out_dir / "spk2name", [f"{s} {' | '.join(sorted(spk_names[s]))}" for s in used])
    write_lines(out_dir / "long_clips", sorted(long_list, key=c_sort_key))
    write_lines(out_dir / "odd_times", sorted(odd_list, key=c_sort_key))

    per_split = Counter(dd.extra["utt2split"].values())
    emo_counts = Counter(dd.utt2emo.values())
    reasons = Counter(_reason_kind(r) for r in report.excluded.values())
    notes = [f"corpus: MELD {corpus_dir}",
             f"mode: {mode}",
             "csv: " + " ".join(str(csv_paths[s]) for s in SPLITS),
             f"label set: {label_set} ({' '.join(labels)})",
             "utterances: " + ", ".join(f"{f} {per_split[f]}" for f in ("train", "valid", "test")),
             "labels: " + ", ".join(f"{lab} {emo_counts[lab]}" for lab in labels),
             f"speakers: {len(used)} (free-text names; not speaker-independent: use the official split)",
             f"excluded: {len(report.excluded)}" + "".join(f"; {r} {n}" for r, n in sorted(reasons.items())),
             f"text repaired (cp1252 mojibake): {sum(repaired.values())} rows",
             f"long clips (> {max_dur:g} s by CSV times, {long_clips}): {len(long_list)}",
             f"odd CSV times (zero/negative/unparsable): {len(odd_list)}"]
    notes += [f"ignored media files: {what} {n}" for what, n in sorted(ignored_total.items())]
    write_lines(out_dir / "notes", notes)
    for line in notes:
        log.info("MELD %s", line)
    return dd


def _reason_kind(reason: str) -> str:
    """The kind of an exclusion reason for counting: without the file:line prefix and the details."""
    reason = re.sub(r"^\S+:\d+: ", "", reason)
    return re.split(r"[:(]", reason, maxsplit=1)[0].strip()



# ------------------------------------------------------------------ protocols
def resplit(dd: DataDir, seed: int = 0) -> list[Fold]:
    six = set(LABEL_SETS["6class"])
    other = sorted(set(dd.utt2emo.values()) - six)
    if other:
        raise ProtocolError(f"resplit is the paper's 6-class split, but the data dir has labels {other}: "
                            f"prepare it with --label-set 6class (fear is then listed in `excluded`)")
    return [stratified_resplit(dd.utt2emo, 0.2, 0.1, seed)]


CORPUS = CorpusInfo(
    name="meld", labels=LABELS, db_variable="MELD",
    description="MELD.Raw (media + CSVs; open: affective-meld.github.io), or a folder with the three CSVs",
    protocols=[
        official_protocol(
            description="MELD's own train/dev/test split (utt2split; dev = valid).",
            caveat="Not speaker-independent: the main characters speak in every split."),
        Protocol("resplit", resplit,
                 "The cnn-bert-attention paper's split (its Table 1): train, dev and test pooled, 6 "
                 "classes (fear dropped), per class 20% test rounded up (2,674 of 13,350 on MELD), the "
                 "other 80% (10,676) split again: 10% valid (rounded up), the rest train.",
                 False, False, seeded=True, splits_dialogues=True, prepare_options={"label_set": "6class"},
                 caveat="LEAKS: utterances are drawn one by one, so a dialogue's turns (its speakers, "
                        "scene and context) fall into train and test alike. Each part's turns of a "
                        "dialogue form a shorter dialogue of their own (utt2dialog suffixed with the "
                        "part). Not comparable with `official`."),
    ],
    default_protocol="official")
