"""CMU-MOSEI: six emotion intensities per segment, single-label by arg-max, SDK standard folds.

Input, located recursively under `corpus_dir` (the nearest copy when there are several):
  CMU_MOSEI_Labels.csd                        HDF5 (SDK): <root>/data/<video>/{features N x 7, intervals N x 2}
                                              columns [sentiment, happy, sad, anger, surprise, disgust, fear]
  Raw/Transcript/Segmented/Combined/<video>.txt   `<video>___<clip>___<start>___<end>___<text>`
  Raw/Audio/Full/WAV_16000/<video>.wav        full-video audio, cut by `segments`
and the standard folds from `--folds-file FILE` (see mer.data.corpora.mosei_folds for how to make it;
`auto`, the command line's default: the first mosei_folds.json or cmu_mosei_std_folds.py found below
`corpus_dir` or beside it).
Without the WAV_16000 folder (or with --text-only) a text-only data dir is written.

Decisions:
- Ids. MOSEI has no speaker ids: speaker = recording = dialog = the video. Video ids are kept as
  strings (numeric ids like `81406`, ids starting with `-` or `_`) and written as `v<video>`
  (`v81406`, `v-3g5yACwYnA`), so no key starts with `-` (taken for an option by CLI tools) or is a
  bare number; characters outside [A-Za-z0-9_-] would be %XX-escaped.  `video_of_key` and
  `video_of_utt` give the video id back.
  Utterance = `v<video>-<clip:03d>` with the transcript's clip index, so utterances sort by speaker
  (Kaldi's rule) and, within a video, in clip order.  `utt2dialog` = the video; `utt2turn` = the
  segment's start in seconds from its label row, as given (a negative start stays negative there
  though `segments` clamps it), so text-only and audio dirs order a video's segments alike.
- Matching. The CSD row order is not the clip order: each label row is matched to the transcript
  clip whose (start, end) is within `--tolerance` (0.05 s) on both ends, nearest first.  A label row
  with no such clip is excluded (id `v<video>-row<NNN>`, NNN = CSD row); a transcript clip with no
  label row is excluded as such; a second label row for the same clip is excluded.
- Times. Negative starts are clamped to 0 (counted); overlapping segments are kept (counted); an end
  past the end of the audio is clamped to it; `reco2dur` holds each recording's duration.
- Labels (LABELS, SDK column order): happy sad anger surprise disgust fear, by arg-max of the six
  intensities.  Ties (`--tie exclude`, default) are excluded, or `--tie first` takes the first in
  LABELS order; all-zero rows are excluded as "no emotion", or `--zero neutral` labels them
  `neutral` (then appended to the label set).  Both are counted in `notes`.
  `--multi-label` also writes `utt2emo_multi` (`<utt> happy,sad`: every emotion with intensity >
  `--threshold`, 0 by default, as in the SDK README; `neutral` for zero rows kept by --zero neutral,
  `none` when no emotion passes a higher threshold).  It covers the same utterances as utt2emo.
- Folds: `utt2split` from the folds file; segments of videos in no fold are excluded.
- `--samples emotion` (for the `resplit` protocol): every segment becomes one utterance per emotion
  whose intensity is > `--threshold` (`v<video>-<clip>-<emotion>`, label = that emotion; `utt2segment`
  names the segment), so ties need no rule and a segment with several emotions is several samples
  with the same audio and text.  All-zero rows are excluded as "no emotion".  The folds file is
  optional here (`utt2split` is written where it is given, `none` for videos in no fold, which
  are kept).
Protocols: `official` (default; the SDK's standard folds) and `resplit` (the cnn-bert-attention
paper's, on `--samples emotion`).
"""
from __future__ import annotations

import argparse
import json
import logging
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf

from mer.data.corpora.common import (CorpusError, PrepReport, decode_sniffed, pick_nearest, resolve_corpus_dir,
                                     walk_corpus, write_lines, write_prepared)
from mer.data.corpora.mosei_folds import (FOLDS, FoldsError, find_folds_file, load_folds, numeric_ids_in_json,
                                         video_to_fold)
from mer.data.corpora.options import old_spelling
from mer.data.corpora.fakes.mosei import write_fake  # noqa: F401  (the interface: a fake copy for tests)
from mer.data.corpora.registry import CorpusInfo
from mer.data.datadir import DataDir, Segment, format_seconds
from mer.data.protocols import Fold, Protocol, ProtocolError, official_protocol, stratified_resplit

log = logging.getLogger(__name__)

LABELS = ("happy", "sad", "anger", "surprise", "disgust", "fear")
NEUTRAL = "neutral"
CSD_NAME = "CMU_MOSEI_Labels.csd"
TRANSCRIPT_DIR = ("Transcript", "Segmented", "Combined")
AUDIO_DIR = ("Audio", "Full", "WAV_16000")
# Column of each emotion in `features` when the file names no dimensions (SDK README order).
SDK_COLUMNS = {"happy": 1, "sad": 2, "anger": 3, "surprise": 4, "disgust": 5, "fear": 6}
NAME_ALIASES = {"happy": {"happy", "happiness", "joy"}, "sad": {"sad", "sadness"},
                "anger": {"anger", "angry"}, "surprise": {"surprise", "surprised"},
                "disgust": {"disgust", "disgusted"}, "fear": {"fear", "fearful"}}
SAMPLES = ("segment", "emotion")
AUTO = "auto"            # --folds-file: look for the folds file below the corpus dir and beside it
TIE_ATOL = 1e-4          # intensities are means of 0-3 ratings (k/3); float noise is far smaller
SAFE_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--folds-file", dest="folds", default=AUTO,
                        help="standard folds: JSON {train,valid,test: [video ids]} or the SDK's "
                             "cmu_mosei_std_folds.py (see mer.data.corpora.mosei_folds); auto (default): the "
                             "first mosei_folds.json or cmu_mosei_std_folds.py below the corpus dir or beside it")
    old_spelling(parser, "--folds", "--folds-file", "folds")
    parser.add_argument("--tie", choices=("exclude", "first"), default="exclude",
                        help="arg-max ties: exclude the segment (default) or take the first in label order")
    parser.add_argument("--zero", choices=("exclude", "neutral"), default="exclude",
                        help="segments with all six intensities 0: exclude as 'no emotion' (default) or label neutral")
    parser.add_argument("--multi-label", action="store_true",
                        help="also write utt2emo_multi (emotions with intensity > --threshold)")
    parser.add_argument("--threshold", type=float, default=0.0,
                        help="intensity above which an emotion is present in utt2emo_multi (default 0)")
    parser.add_argument("--tolerance", type=float, default=0.05,
                        help="seconds by which label and transcript times may differ when matched (default 0.05)")
    parser.add_argument("--text-only", action="store_true", help="write no wav.scp/segments even if audio exists")
    parser.add_argument("--samples", choices=SAMPLES, default="segment",
                        help="segment: one utterance per segment, arg-max label (default); emotion: one "
                             "utterance per segment and emotion with intensity > --threshold, as the "
                             "cnn-bert-attention paper's resplit counts them (folds optional)")


# ------------------------------------------------------------------------------------------------
# ids

def video_key(vid: str) -> str:
    """`v` + the video id, any character outside [A-Za-z0-9_-] as %XX (UTF-8 bytes)."""
    return "v" + SAFE_CHARS.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8")), vid)


def video_of_key(vkey: str) -> str:
    """The video id of a video key (speaker, recording, dialog): `v-3g5yACwYnA` -> `-3g5yACwYnA`."""
    if not vkey.startswith("v"):
        raise ValueError(f"{vkey!r} is not a MOSEI video key")
    return re.sub(rb"%([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]),
                  vkey[1:].encode("utf-8")).decode("utf-8")


def video_of_utt(utt: str) -> str:
    """The video id of an utterance id (`v81406-003` -> `81406`): the part before the last '-'."""
    return video_of_key(utt.rsplit("-", 1)[0])


def utt_key(vid: str, clip: int) -> str:
    return f"{video_key(vid)}-{clip:03d}"


# ------------------------------------------------------------------------------------------------
# reading

def _column_map(meta, csd: Path, report: PrepReport) -> dict[str, int]:
    """Emotion -> features column, from the `dimension names` metadata when it names them."""
    if meta is None or "dimension names" not in meta:
        return dict(SDK_COLUMNS)
    try:
        raw = meta["dimension names"][()]
        raw = raw[0] if getattr(raw, "shape", ()) else raw
        raw = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        names = json.loads(raw)
    except (ValueError, TypeError, IndexError, KeyError):
        report.warn(report.where(csd), "metadata 'dimension names' unreadable; SDK column order assumed")
        return dict(SDK_COLUMNS)
    if not isinstance(names, list):
        return dict(SDK_COLUMNS)
    low = [str(n).strip().lower() for n in names]
    cols = {}
    for lab, aliases in NAME_ALIASES.items():
        hits = [i for i, n in enumerate(low) if n in aliases]
        if len(hits) == 1:
            cols[lab] = hits[0]
    if len(cols) == len(LABELS):
        if cols != SDK_COLUMNS:
            report.warn(report.where(csd), f"dimension names {names} differ from the SDK order; columns "
                                           f"taken by name")
        return cols
    report.warn(report.where(csd), f"dimension names {names} not understood; SDK column order assumed")
    return dict(SDK_COLUMNS)


def read_labels(csd: Path, report: PrepReport) -> tuple[dict[str, tuple[np.ndarray, np.ndarray] | str],
                                                        dict[str, int]]:
    """video -> (intervals N x 2, intensities N x 6 in LABELS order) or a problem string."""
    import h5py
    try:
        f = h5py.File(csd, "r")
    except OSError as e:
        raise CorpusError(f"{csd}: not a readable HDF5 computational sequence ({e})") from None
    with f:
        roots = [k for k in f.keys() if isinstance(f[k], h5py.Group) and "data" in f[k]]
        if len(roots) != 1:
            raise CorpusError(f"{csd}: expected one top-level group holding 'data' (e.g. 'All Labels'), "
                              f"found {list(f.keys())}")
        root = f[roots[0]]
        cols = _column_map(root.get("metadata"), csd, report)
        order = [cols[lab] for lab in LABELS]
        out: dict[str, tuple[np.ndarray, np.ndarray] | str] = {}
        for vid in root["data"].keys():
            g = root["data"][vid]
            if "features" not in g or "intervals" not in g:
                out[vid] = f"{csd.name}: data/{vid} lacks features or intervals"
                continue
            feats, ivs = np.asarray(g["features"][()], dtype=float), np.asarray(g["intervals"][()], dtype=float)
            if feats.ndim != 2 or ivs.ndim != 2 or ivs.shape[1] != 2 or len(feats) != len(ivs) \
                    or feats.shape[1] <= max(order):
                out[vid] = (f"{csd.name}: data/{vid} has features {feats.shape} and intervals {ivs.shape}; "
                            f"expected N x 7 and N x 2")
                continue
            out[vid] = (ivs, feats[:, order])
    return out, cols


def read_transcript(path: Path, vid: str, report: PrepReport) -> dict[int, tuple[float, float, str]]:
    """clip -> (start, end, text) from a segmented transcript file."""
    clips: dict[int, tuple[float, float, str]] = {}
    text = decode_sniffed(path.read_bytes())[0]
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        # The video id is known (the file name) and may itself hold '_' runs: strip it first, then
        # split the rest with maxsplit (the text may contain '_____').
        if line.startswith(vid + "___"):
            parts = line[len(vid) + 3:].split("___", 3)
        else:
            parts = line.split("___", 4)
            if len(parts) == 5:
                report.warn(report.where(path, lineno), f"line is for video {parts[0]!r}, not {vid!r}; skipped")
                continue
        if len(parts) != 4:
            report.warn(report.where(path, lineno), "not <video>___<clip>___<start>___<end>___<text>; skipped")
            continue
        try:
            clip, start, end = int(parts[0]), float(parts[1]), float(parts[2])
        except ValueError:
            report.warn(report.where(path, lineno), f"bad clip/start/end {parts[:3]}; skipped")
            continue
        if clip in clips:
            report.warn(report.where(path, lineno), f"clip {clip} repeated; the first is kept")
            continue
        clips[clip] = (start, end, " ".join(parts[3].split()))
    return clips


def match_rows(ivs: np.ndarray, clips: dict[int, tuple[float, float, str]], tol: float
               ) -> tuple[dict[int, int], dict[int, str]]:
    """Label row -> clip by (start, end) within tol, nearest pairs first; and the unmatched rows' reasons."""
    pairs = []
    for row, (s, e) in enumerate(ivs):
        for clip, (cs, ce, _) in clips.items():
            ds, de = abs(cs - s), abs(ce - e)
            if ds <= tol + 1e-9 and de <= tol + 1e-9:
                pairs.append((ds + de, row, clip))
    pairs.sort()
    row2clip: dict[int, int] = {}
    clip2row: dict[int, int] = {}
    candidates: dict[int, list[int]] = defaultdict(list)
    for _, row, clip in pairs:
        candidates[row].append(clip)
        if row not in row2clip and clip not in clip2row:
            row2clip[row], clip2row[clip] = clip, row
    problems = {}
    for row in range(len(ivs)):
        if row in row2clip:
            continue
        s, e = ivs[row]
        if candidates[row]:
            c = candidates[row][0]
            problems[row] = f"label row {row} [{s:.3f}, {e:.3f}] duplicates clip {c} (matched by row {clip2row[c]})"
        else:
            problems[row] = f"label row {row} [{s:.3f}, {e:.3f}]: no transcript clip within {tol:g} s"
    return row2clip, problems


def decide(values: np.ndarray, tie: str, zero: str) -> tuple[str | None, str]:
    """(label, kind) for one row of six intensities; label None when excluded. kind: ok/tie/zero/bad."""
    if not np.all(np.isfinite(values)):
        return None, "bad"
    top = float(values.max())
    if top <= 0:
        return (NEUTRAL if zero == "neutral" else None), "zero"
    winners = [lab for lab, v in zip(LABELS, values) if abs(v - top) <= TIE_ATOL]
    if len(winners) > 1:
        return (winners[0] if tie == "first" else None), "tie"
    return winners[0], "ok"


def multi_hot(values: np.ndarray, threshold: float, label: str) -> str:
    if label == NEUTRAL:
        return NEUTRAL
    present = [lab for lab, v in zip(LABELS, values) if v > threshold]
    return ",".join(present) if present else "none"


# ------------------------------------------------------------------------------------------------

def locate(corpus_dir: Path, report: PrepReport) -> tuple[Path, Path, Path | None]:
    csds, tdirs, adirs = [], [], []
    for d, dirnames, filenames in walk_corpus(corpus_dir):
        if CSD_NAME in filenames:
            csds.append(d / CSD_NAME)
        if d.parts[-3:] == TRANSCRIPT_DIR:
            tdirs.append(d)
            dirnames[:] = []
        elif d.parts[-3:] == AUDIO_DIR:
            adirs.append(d)
            dirnames[:] = []
    csd = pick_nearest(corpus_dir, CSD_NAME, csds, report)
    if csd is None:
        raise CorpusError(f"{corpus_dir}: no {CSD_NAME} anywhere below it (the SDK's label file)")
    tdir = pick_nearest(corpus_dir, "/".join(TRANSCRIPT_DIR), tdirs, report)
    if tdir is None:
        raise CorpusError(f"{corpus_dir}: no {'/'.join(TRANSCRIPT_DIR)} folder below it (Raw/ of CMU_MOSEI.zip)")
    return csd, tdir, pick_nearest(corpus_dir, "/".join(AUDIO_DIR), adirs, report)


def prepare(corpus_dir: Path, out_dir: Path, *, folds: Path | str | None = None, tie: str = "exclude",
            zero: str = "exclude", multi_label: bool = False, threshold: float = 0.0,
            tolerance: float = 0.05, text_only: bool = False, samples: str = "segment") -> DataDir:
    """Write the CMU-MOSEI data dir `out_dir` (all folds; `utt2split` says which) and return it."""
    if tie not in ("exclude", "first"):
        raise ValueError(f"tie must be 'exclude' or 'first', not {tie!r}")
    if zero not in ("exclude", "neutral"):
        raise ValueError(f"zero must be 'exclude' or 'neutral', not {zero!r}")
    if samples not in SAMPLES:
        raise ValueError(f"samples must be one of {SAMPLES}, not {samples!r}")
    per_emotion = samples == "emotion"
    corpus_dir, out_dir = resolve_corpus_dir(corpus_dir, "MOSEI"), Path(out_dir)
    searched = folds == AUTO
    if searched:
        folds = find_folds_file(corpus_dir)
    if folds is None and not per_emotion:
        raise CorpusError("CMU-MOSEI needs --folds-file FILE with the SDK's standard folds (JSON "
                          "{train,valid,test} or cmu_mosei_std_folds.py"
                          + (f"; none is below or beside {corpus_dir}" if searched else "")
                          + "); see mer/data/corpora/mosei_folds.py")
    try:
        fold_lists = load_folds(folds) if folds is not None else {f: [] for f in FOLDS}
    except FoldsError as e:
        raise CorpusError(str(e)) from None
    vid2fold = video_to_fold(fold_lists)
    report = PrepReport(corpus_dir)
    if folds is not None and numeric_ids_in_json(folds):
        report.warn(str(folds), f"{numeric_ids_in_json(folds)} video ids are JSON numbers; read as strings "
                                f"(write them quoted: a leading zero would have been lost)")
    csd, tdir, adir = locate(corpus_dir, report)
    use_audio = adir is not None and not text_only
    if text_only:
        mode = "text-only (--text-only): no wav.scp/segments"
    elif adir is None:
        mode = f"text-only: no {'/'.join(AUDIO_DIR)} folder below the corpus dir, so no wav.scp/segments"
        report.warn(".", mode)
    else:
        mode = "audio+text (segments cut from the full-video wavs)"
    labels = LABELS + ((NEUTRAL,) if zero == "neutral" and not per_emotion else ())

    videos, _ = read_labels(csd, report)
    dd = DataDir()
    reco2dur: dict[str, str] = {}
    count = Counter()

    for vid in sorted(videos, key=lambda v: video_key(v).encode("utf-8")):
        vkey = video_key(vid)
        entry = videos[vid]
        if isinstance(entry, str):
            report.exclude(f"{vkey}-row000", entry)
            continue
        ivs, values = entry
        row_id = lambda r: f"{vkey}-row{r:03d}"  # noqa: E731
        tfile = tdir / f"{vid}.txt"
        if not tfile.is_file():
            for r in range(len(ivs)):
                report.exclude(row_id(r), f"no transcript file {report.where(tfile)}")
            continue
        clips = read_transcript(tfile, vid, report)
        row2clip, problems = match_rows(ivs, clips, tolerance)
        for r, why in problems.items():
            report.exclude(row_id(r), why)
        count["label rows without a transcript clip"] += sum("no transcript clip" in w for w in problems.values())
        count["duplicate label rows"] += sum("duplicates clip" in w for w in problems.values())
        for clip in sorted(set(clips) - set(row2clip.values())):
            report.exclude(utt_key(vid, clip), f"transcript clip {clip} has no label row in {csd.name}")
            count["transcript clips without a label row"] += 1

        fold = vid2fold.get(vid)
        wav, dur, audio_problem = None, 0.0, None
        if (fold is not None or per_emotion) and use_audio and row2clip:
            wav_path = adir / f"{vid}.wav"
            if not wav_path.is_file():
                audio_problem = f"audio missing: {report.where(wav_path)}"
            else:
                try:
                    dur = sf.info(str(wav_path)).duration
                    wav = str(wav_path.absolute())
                except (RuntimeError, sf.LibsndfileError) as e:
                    audio_problem = f"audio unreadable: {report.where(wav_path)} ({e})"
        kept: list[tuple[float, float]] = []
        for r, clip in sorted(row2clip.items(), key=lambda rc: rc[1]):
            utt = utt_key(vid, clip)
            if fold is None and per_emotion:
                count["segments of videos in no fold (kept: --samples emotion)"] += 1
            elif fold is None:
                report.exclude(utt, f"video {vid} is in no standard fold")
                count["segments of videos in no fold"] += 1
                continue
            label, kind = decide(values[r], tie, zero)
            present = [lab for lab, v in zip(LABELS, values[r]) if v > threshold] if kind != "bad" else []
            if per_emotion and kind != "bad":
                if not present:
                    count["segments with no emotion > threshold excluded"] += 1
                    report.exclude(utt, f"no emotion: no intensity > {threshold:g} (--samples emotion)")
                    continue
                kind = "ok"
            if kind == "bad":
                report.exclude(utt, f"label row {r} has non-finite intensities {values[r].tolist()}")
                continue
            if kind == "tie":
                count["ties " + ("excluded" if label is None else "resolved to the first label")] += 1
                if label is None:
                    top = values[r].max()
                    tied = ",".join(lab for lab, v in zip(LABELS, values[r]) if abs(v - top) <= TIE_ATOL)
                    report.exclude(utt, f"tie between {tied} at {top:.3f} (--tie exclude)")
                    continue
            if kind == "zero":
                count["all-zero rows " + ("excluded" if label is None else "labelled neutral")] += 1
                if label is None:
                    report.exclude(utt, "no emotion: all six intensities are 0 (--zero exclude)")
                    continue
            start, end = float(ivs[r][0]), float(ivs[r][1])
            segment = None
            if use_audio:
                if audio_problem:
                    report.exclude(utt, audio_problem)
                    continue
                if start < 0:
                    count["negative starts clamped to 0"] += 1
                    start = 0.0
                if end > dur:
                    if end - dur > tolerance:
                        report.warn(report.where(adir / f"{vid}.wav"),
                                    f"{utt} ends at {end:.3f} s, {end - dur:.3f} s after the audio; clamped")
                    end = dur
                if end <= start:
                    report.exclude(utt, f"empty interval [{ivs[r][0]:.3f}, {ivs[r][1]:.3f}] "
                                        f"(audio {dur:.3f} s)")
                    continue
                segment = Segment(vkey, start, end)
                kept.append((start, end))
            if not clips[clip][2]:
                report.missing_text(utt, f"clip {clip} of {report.where(tfile)} has no text")
            extra = {"emo_multi": multi_hot(values[r], threshold, label)} if multi_label else {}
            if fold is not None:
                extra["split"] = fold
            elif folds is not None:  # --samples emotion keeps videos in no fold: utt2split must cover them
                extra["split"] = "none"
            if not per_emotion:
                dd.add(utt, vkey, wav=wav, segment=segment, text=clips[clip][2], emo=label,
                       dialog=vkey, turn=format_seconds(ivs[r][0]), **extra)
                continue
            count["(segment, emotion) samples"] += len(present)
            count["segments with several emotions"] += len(present) > 1
            for emo in present:
                dd.add(f"{utt}-{emo}", vkey, wav=wav, segment=segment, text=clips[clip][2], emo=emo,
                       dialog=vkey, turn=format_seconds(ivs[r][0]),
                       **{k: v for k, v in extra.items() if k != "emo_multi"})
                dd.extra.setdefault("utt2segment", {})[f"{utt}-{emo}"] = utt
        if kept:
            reco2dur[vkey] = f"{dur:.3f}"
            kept.sort()
            count["overlapping segment pairs (kept)"] += sum(b[0] < a[1] for a, b in zip(kept, kept[1:]))

    if reco2dur:
        dd.reco_extra["reco2dur"] = reco2dur
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "utt2emo_multi").unlink(missing_ok=True)     # not rewritten without --multi-label
    (out_dir / "reco2dur").unlink(missing_ok=True)
    for stale in ("utt2segment", "utt2split"):      # --samples emotion may write neither
        (out_dir / stale).unlink(missing_ok=True)
    write_prepared(dd, out_dir, labels, report)

    in_csd = set(videos)
    per_fold = Counter(dd.extra.get("utt2split", {}).values())
    emo_counts = Counter(dd.utt2emo.values())
    notes = [f"corpus: CMU-MOSEI {corpus_dir}",
             f"mode: {mode}",
             f"labels file: {csd}",
             f"transcripts: {tdir}",
             f"folds: {folds} (" + ", ".join(f"{f} {len(fold_lists[f])} videos, "
                                             f"{len(set(fold_lists[f]) & in_csd)} in the labels"
                                             for f in FOLDS) + ")",
             f"videos in the labels but in no fold: {len(in_csd - set(vid2fold))}",
             f"label set: {' '.join(labels)} " + (f"(one sample per segment and emotion > {threshold:g}; "
                                                  f"--samples emotion)" if per_emotion else
                                                  f"(arg-max; --tie {tie}, --zero {zero})"),
             "utterances: " + ", ".join(f"{f} {per_fold[f]}" for f in FOLDS)
             + (f" by the folds, {len(dd)} in all" if per_emotion else ""),
             "labels: " + ", ".join(f"{lab} {emo_counts[lab]}" for lab in labels),
             f"speakers: {len(dd.speakers)} videos (MOSEI has no speaker ids; speaker = video)",
             f"excluded: {len(report.excluded)}"]
    notes += [f"{what}: {n}" for what, n in sorted(count.items())]
    if multi_label:
        notes.append(f"utt2emo_multi: emotions with intensity > {threshold:g}")
    write_lines(out_dir / "notes", notes)
    for line in notes:
        log.info("MOSEI %s", line)
    return dd



def fake_options(corpus_dir: Path) -> dict:
    """The fake's folds file, which `prepare` needs (--folds-file)."""
    return {"folds": corpus_dir.parent / "mosei_folds.json"}


# ------------------------------------------------------------------ protocols
def resplit(dd: DataDir, seed: int = 0) -> list[Fold]:
    if "utt2segment" not in dd.extra:
        raise ProtocolError("resplit splits (segment, emotion) samples: prepare MOSEI with --samples emotion "
                            "(its data dir then has utt2segment)")
    return [stratified_resplit(dd.utt2emo, 0.2, 0.1, seed)]


CORPUS = CorpusInfo(
    name="mosei", labels=LABELS, db_variable="MOSEI",
    description="CMU_MOSEI (Raw/ and CMU_MOSEI_Labels.csd, from the CMU-MultimodalSDK); the standard folds "
                "file below or beside it, or --folds-file",
    protocols=[
        official_protocol(
            description="The CMU-MultimodalSDK standard folds (utt2split), split by video.",
            caveat="Speakers are not annotated; videos do not cross splits, but one "
                   "speaker may appear in several videos."),
        Protocol("resplit", resplit,
                 "The cnn-bert-attention paper's split (its Table 1): one sample per segment and "
                 "emotion with intensity > 0 (stage 1 with --samples emotion), per class 20% test "
                 "rounded up, the other 80% split again: 10% valid (rounded up), the rest train.",
                 False, False, seeded=True, splits_dialogues=True, prepare_options={"samples": "emotion"},
                 caveat="LEAKS: a segment with several emotions is several samples with the same "
                        "audio and text, and they fall on both sides of the split; videos are split "
                        "too (each part's segments of a video form a dialogue of their own). Not "
                        "comparable with `official`."),
    ],
    default_protocol="official")
