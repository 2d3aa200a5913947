"""Recognise the emotion of recordings with a packed model (or an experiment dir).

Usage:
  python -m mer.bin.recognize --model MODEL.tar.gz|EXP_DIR [--text 'TRANSCRIPT' | --text-file TEXT]
      [--asr WHISPER_MODEL [--asr-beam-size N] [--asr-language L]] [--speaker ID | --utt2spk FILE]
      [--device auto] INPUT...
  mer-recognize ...   (the same, installed as a console script)

INPUT: audio files, folders (every .wav/.flac/.ogg/.mp3 below them) or Kaldi wav.scp files (a
name ending in .scp; entries may be commands ending in '|').

A model that reads text needs a transcript per recording: --text (one recording), --text-file (Kaldi
`text`: `<id> <transcript>`, the id being the wav.scp id or the file name without extension), or
--asr to transcribe those without one with Whisper (a short name such as whisper-tiny.en, a hub id
or a local dir). Without any of them the command stops and says so.

A model with a speaker-normalised input (`cmvn: speaker`; the pack's README says so) normalises
each recording with the statistics of all the recordings given for its speaker, as in training:
--speaker ID (every recording given), --utt2spk FILE (Kaldi utt2spk: <wav.scp id or file stem>
<speaker>) or an `utt2spk` file beside a wav.scp given. A recording without a speaker is normalised
with the training speakers' statistics the pack stores, and its `differs` says so. A speaker's
recordings are recognised together, so results are printed grouped by speaker.

Prints one JSON line per recording to stdout: utt (the wav.scp id, or the file path), label,
posteriors (class -> probability), transcript (the text used, null for a model without text),
seconds (the recording's duration) and differs (input -> why it cannot equal what the model was
trained on; empty when nothing differs). Recordings that cannot be read or computed are named on
stderr and the others go on; the exit status is then 1. A progress bar on stderr counts recordings.

Emotion over time: --segment vad|fixed cuts each audio file into segments (mer.segments: an energy
voice-activity detector, or fixed windows with a hop) and prints one JSON line per segment, with
`start` and `end` in seconds; --plot OUT.png draws the posteriors over time (one figure per file:
OUT.png for one input, OUT_<file stem>.png for several). Segments are read and recognised a chunk
at a time, so memory stays flat with the recording's length. A model that reads text needs --asr
here (each segment is transcribed).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from mer.data.kaldi_io import DataFileError, read_kv
from mer.recognizer import Recording

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
# Recordings read, computed and decoded together; results are printed after each chunk.
CHUNK = 64


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mer-recognize", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="a packed model (mer.bin.pack) or an experiment dir")
    p.add_argument("--fold", type=int, help="with an experiment dir of several folds: which one")
    p.add_argument("--dumpdir", help="with an experiment dir: the recipe's dump dir (default: found)")
    p.add_argument("--text", help="the transcript of the one recording given")
    p.add_argument("--text-file", help="Kaldi text: <wav.scp id or file stem> <transcript>")
    p.add_argument("--asr", metavar="MODEL", help="transcribe recordings without a transcript with this Whisper")
    p.add_argument("--asr-beam-size", type=int, help="default: the model's training transcripts', else 1")
    p.add_argument("--asr-language", help="language of a multilingual Whisper model, e.g. en")
    p.add_argument("--speaker", help="the speaker of every recording given (speaker-normalised models)")
    p.add_argument("--utt2spk", help="Kaldi utt2spk: <wav.scp id or file stem> <speaker> (default: an utt2spk "
                   "beside a wav.scp given)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--batch-size", type=int, default=16, help="recordings per model forward (as mer.bin.infer)")
    seg = p.add_argument_group("emotion over time")
    seg.add_argument("--segment", choices=("vad", "fixed"), help="cut each file into segments, a result each")
    seg.add_argument("--window", type=float, default=4.0, help="fixed: window length, s")
    seg.add_argument("--hop", type=float, default=2.0, help="fixed: step between window starts, s")
    seg.add_argument("--min-speech", type=float, default=0.3, help="vad: shorter speech is dropped, s")
    seg.add_argument("--min-silence", type=float, default=0.3, help="vad: shorter pauses do not cut, s")
    seg.add_argument("--max-segment", type=float, default=10.0, help="vad: longer speech is split, s")
    seg.add_argument("--vad-threshold-db", type=float,
                     help="vad: speech level in dBFS (default: max(-55, 95th percentile - 35))")
    seg.add_argument("--plot", metavar="OUT.png", help="with --segment: the posteriors over time")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files, folders or wav.scp files")
    return p


def collect(inputs: list[str]) -> list[Recording]:
    """Recordings in the order given; a file listed twice is recognised once."""
    recs: dict[str, Recording] = {}
    for x in inputs:
        p = Path(x)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_SUFFIXES and f.is_file())
            if not files:
                raise ValueError(f"{x}: a folder without audio files ({', '.join(AUDIO_SUFFIXES)})")
            found = [Recording(str(f), source=str(f)) for f in files]
        elif p.suffix == ".scp":
            beside = read_kv(p.parent / "utt2spk") if (p.parent / "utt2spk").is_file() else {}
            found = [Recording(utt, source=spec, speaker=beside.get(utt)) for utt, spec in read_kv(p).items()]
        else:
            found = [Recording(x, source=x)]  # a missing file fails alone, named
        for rec in found:
            recs.setdefault(rec.utt, rec)
    return list(recs.values())


def by_id_or_stem(table: dict[str, str], rec: Recording) -> str | None:
    """A Kaldi table's entry for a recording: by its wav.scp id, or the stem of its file name."""
    return table.get(rec.utt, table.get(Path(rec.utt).stem) if rec.source == rec.utt else None)


def assign_speakers(args, recs: list[Recording]) -> None:
    """--speaker for all, else --utt2spk where it names the recording (else utt2spk beside a wav.scp)."""
    if args.speaker is not None:
        for rec in recs:
            rec.speaker = args.speaker
    elif args.utt2spk:
        table = read_kv(args.utt2spk)
        for rec in recs:
            rec.speaker = by_id_or_stem(table, rec) or rec.speaker


def speaker_chunks(recs: list[Recording], size: int) -> list[list[Recording]]:
    """Chunks of about `size` recordings that never split a speaker's recordings (whose statistics
    are computed over all of them); recordings without a speaker are alone."""
    groups: dict[object, list[Recording]] = {}
    for i, rec in enumerate(recs):
        groups.setdefault(("speaker", rec.speaker) if rec.speaker is not None else i, []).append(rec)
    chunks: list[list[Recording]] = [[]]
    for group in groups.values():
        if chunks[-1] and len(chunks[-1]) + len(group) > size:
            chunks.append([])
        chunks[-1].extend(group)
    return [c for c in chunks if c]


def transcripts(args, recs: list[Recording]) -> list[str | None]:
    if args.text is not None:
        if len(recs) != 1:
            raise ValueError(f"--text is the transcript of one recording, but {len(recs)} were given; "
                             f"use --text-file")
        return [args.text]
    if not args.text_file:
        return [None] * len(recs)
    table = read_kv(args.text_file, allow_empty_value=True)
    return [by_id_or_stem(table, r) for r in recs]


def main(argv=None) -> int:
    from tqdm import tqdm

    from mer.asr import TranscriptionError
    from mer.deploy_cmvn import speaker_hint
    from mer.packing import PackError
    from mer.pretrained import PretrainedError
    from mer.recognizer import Recognizer
    from mer.trained_model import load_trained_model

    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        recs = collect(args.inputs)
        assign_speakers(args, recs)
        recs = [rec for chunk in speaker_chunks(recs, CHUNK) for rec in chunk]
        texts = transcripts(args, recs)
        trained = load_trained_model(args.model, fold=args.fold, dumpdir=args.dumpdir)
        r = Recognizer(trained, device=args.device, asr=args.asr, asr_beam_size=args.asr_beam_size,
                       asr_language=args.asr_language, batch_size=args.batch_size, load_encoders=False)
        if args.segment and (args.text is not None or args.text_file):
            raise ValueError("--segment: the segments' transcripts are not known; use --asr for a model that "
                             "reads text")
        if args.plot and not args.segment:
            raise ValueError("--plot draws the posteriors over time of --segment")
        if r.text_inputs and args.text is None and not args.text_file and not args.asr:
            raise ValueError(r.text_help())
        r.load_encoders()
    except (PackError, DataFileError, ValueError, OSError, PretrainedError, TranscriptionError) as e:
        print(f"recognize: error: {e}", file=sys.stderr)
        return 2
    if not r.text_inputs and (args.text is not None or args.text_file):
        print("recognize: note: the model reads no text; the transcripts given are not used", file=sys.stderr)
    for name, why in r.static_differences().items():
        print(f"recognize: note: {name} differs from training: {why}", file=sys.stderr)
    hint = speaker_hint(r.inputs)
    if hint and any(rec.speaker is None for rec in recs):
        print(f"recognize: note: {hint}", file=sys.stderr)
    if args.segment:
        return recognize_segments(r, recs, args)
    failed: dict[str, str] = {}
    bar = tqdm(total=len(recs), unit="rec", desc="recognize", disable=len(recs) < 2 or None,
               mininterval=1 if sys.stderr.isatty() else 30)
    start = 0
    for chunk in speaker_chunks(recs, CHUNK):
        results, chunk_failed = r.recognize(chunk, texts[start:start + len(chunk)])
        start += len(chunk)
        for res in results:
            print(json.dumps(res, ensure_ascii=False), flush=True)
        for utt, reason in chunk_failed.items():
            bar.write(f"recognize: {utt}: {reason}", file=sys.stderr)
        failed.update(chunk_failed)
        bar.update(len(chunk))
    bar.close()
    if failed:
        print(f"recognize: {len(failed)} of {len(recs)} recording(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def recognize_segments(r, recs: list[Recording], args) -> int:
    """--segment: each file cut into segments (mer.segments), recognised a chunk at a time."""
    from mer.segments import SegmentOptions, read_segment, segments

    opts = SegmentOptions(args.segment, args.window, args.hop, args.min_speech, args.min_silence,
                          args.max_segment, args.vad_threshold_db)
    failed = []
    for rec in recs:
        try:
            bounds = segments(rec.source or rec.utt, opts)
        except (ValueError, OSError) as e:
            print(f"recognize: {rec.utt}: {e}", file=sys.stderr)
            failed.append(rec.utt)
            continue
        print(f"recognize: {rec.utt}: {len(bounds)} {args.segment} segment(s)", file=sys.stderr)
        results = []
        for start in range(0, len(bounds), CHUNK):
            chunk = bounds[start:start + CHUNK]
            segs = [Recording(f"{rec.utt}@{a:.2f}-{b:.2f}", wave=read_segment(rec.source or rec.utt, a, b),
                              speaker=rec.speaker)
                    for a, b in chunk]
            got, chunk_failed = r.recognize(segs)
            by_utt = dict(zip((s.utt for s in segs), chunk))
            for res in got:
                a, b = by_utt[res["utt"]]
                res = {"utt": rec.utt, "start": a, "end": b, **{k: v for k, v in res.items() if k != "utt"}}
                results.append(res)
                print(json.dumps(res, ensure_ascii=False), flush=True)
            for utt, reason in chunk_failed.items():
                print(f"recognize: {utt}: {reason}", file=sys.stderr)
        if args.plot and results:
            from mer.plots.over_time import plot_over_time

            out = Path(args.plot) if len(recs) == 1 else Path(args.plot).with_name(
                f"{Path(args.plot).stem}_{Path(rec.utt).stem}{Path(args.plot).suffix or '.png'}")
            print(f"recognize: {rec.utt}: posteriors over time in {plot_over_time(results, r.classes, out, rec.utt)}",
                  file=sys.stderr)
    return 1 if failed else 0


def cli() -> None:
    sys.exit(main())


if __name__ == "__main__":
    cli()
