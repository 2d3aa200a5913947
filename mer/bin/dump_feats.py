"""Dump features of a data directory to Kaldi ark/scp.

Usage:
  python -m mer.bin.dump_feats --feature TYPE [--model ID_OR_DIR] [--layers last|all|i,j,...]
      [--nj N] [--cmd CMD] [--tolerate-failures] DATA_DIR OUT_DIR
  python -m mer.bin.dump_feats --config conf/feats.yaml --name whisper DATA_DIR OUT_DIR
  python -m mer.bin.dump_feats --config conf/feats.yaml --list

A feats config is a YAML mapping of dump names to options (the long option names with '_'),
e.g. `whisper: {feature: hf, model: whisper-tiny.en, layers: all}`; options given on the
command line win over it.

TYPE: fbank (Kaldi-compatible, 80 bins, 10 ms), mfcc, logmel, hf (a transformers speech encoder:
HuBERT, wav2vec 2.0, WavLM, Whisper's encoder trimmed to the real length), hf-text (token-level
hidden states of a transformers text encoder over DATA_DIR/text, or over --text-file, e.g. a
transcription dump's text), asr (a transcription, not
features: Whisper's hypotheses in OUT_DIR/text via mer.bin.transcribe; options model, beam_size,
batch_size, language).
System C's acoustic sets (python -m mer.bin.list feature), as its paper names them: gemaps (openSMILE
GeMAPS v01b functionals, one row of 62), sahu8 (Sahu 2019's eight utterance-level values, one row),
librosa-mfcc39 (39 MFCCs per 32 ms as librosa computes them); our earlier stand-ins, still dumped by
the EmoDB and mini recipes: mfcc39 (13 Kaldi MFCC + deltas + delta-deltas per 10 ms), handcrafted8
(eight utterance-level values of our own), egemaps (eGeMAPS v02 functionals, one row of 88),
egemaps-lld (its 25 low-level descriptors per 10 ms).

Batching: text and speech encoders run length-sorted batches with attention masks; group-norm
speech encoders (wav2vec 2.0 / HuBERT / WavLM base) run their convolutional front end on each
utterance alone (padding would change its group norm) and the transformer layers batched, which
gives the features of one utterance at a time. Whisper (`--whisper-input-seconds`): with a window
in seconds (30 = the model's own) every utterance is padded to it; with `utterance` each is encoded
at its own length (2 mel frames per 20 ms output frame), and only utterances of the same length
share a forward pass, since Whisper's encoder has no attention mask.

Long audio: nothing is cut. Audio longer than the encoder's window (Whisper's input window, 30 s by
default; 60 s for wav2vec 2.0 / HuBERT / WavLM) is encoded in consecutive windows, batched like
utterances, and the frames joined (mer.features.windows; the recogniser uses the same code), so
memory stays flat with length.

Writes OUT_DIR/feats.scp (one matrix frames x dim per utterance, float32, or float16 with --dtype
float16 (mer.features.dump_dtype); with several layers they stand side by side: frames x
(n_layers * dim)), OUT_DIR/utt2num_frames, OUT_DIR/feats_info.json,
and OUT_DIR/failed (`utt<TAB>reason`) for utterances that could not be processed. Every good
utterance is dumped; the command exits 1 when some failed, unless --tolerate-failures. Drop them
with `utils/fix_data_dir.sh --exclude OUT_DIR/failed DATA_DIR`.

Before any work the expected size is logged (mer.features.dump_size), and the dump stops when
OUT_DIR's file system has less free space, naming both, unless --skip-space-check.

With --nj N the utterances are split into N jobs run through CMD (the recipe's cmd.sh backend,
default: local processes); a re-run skips jobs that finished. Logs: OUT_DIR/log/dump.JOB.log.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path


from mer.data.ark_checksum import ark_matches, write_checksum
from mer.data.audio import AudioError, load_utterance
from mer.data.datadir import DataDir
from mer.data.kaldi_io import c_sort_key, read_kv, write_kv
from mer.data.text import empty_text_allowed, empty_text_problem
from mer.features import feature_types, parse_whisper_window
from mer.features.batching import READ_CHUNK, job_utts
from mer.features.dump_dtype import DTYPES, check_dtype, to_stored, writer_options
from mer.features.dump_size import estimate, human, space_problem
from mer.features.dump_sources import redo_changed, source_digests
from mer.features.windows import encode_in_windows
from mer.jobs.options import add_job_options, failures_exit_status
from mer.jobs import run_array
from mer.utils.fileio import atomic_open, write_json_atomic, write_text_atomic
from mer.utils.lock import DirLock, LockHeld
from mer.warm import command_python

log = logging.getLogger("dump_feats")


def _whisper_window(value: str):
    try:
        return parse_whisper_window(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="YAML file of named dump settings (see above)")
    p.add_argument("--name", help="which entry of --config to use")
    p.add_argument("--list", action="store_true", help="print the entry names of --config and exit")
    p.add_argument("--feature", choices=(*feature_types(), "asr"))
    p.add_argument("--model", help="hub id, local directory or short name (minilm, whisper-tiny.en, whisper-base)")
    p.add_argument("--layers", default="last", help="last | all | comma-separated hidden-state indices")
    p.add_argument("--num-mel-bins", type=int, default=80)
    p.add_argument("--whisper-input-seconds", type=_whisper_window, default=30.0,
                   help="Whisper's input window: seconds (30, the default, is the window the model "
                        "was trained on: every utterance padded to it; less is faster but changes "
                        "the features) or 'utterance': each utterance's own length, so the cost "
                        "follows the audio")
    p.add_argument("--clean-text", action="store_true", help="hf-text: drop bracketed tags like [LAUGHTER]")
    p.add_argument("--text-file", help="hf-text: transcripts from this Kaldi text file (e.g. dump/asr/text, "
                                       "ASR hypotheses) instead of DATA_DIR/text")
    p.add_argument("--allow-empty-text", action="store_true",
                   help="hf-text: dump an empty transcript (as the encoder's special tokens alone) instead "
                        "of failing it; without it only those listed in DATA_DIR/text_missing are dumped")
    p.add_argument("--batch-size", type=int, default=8, help="utterances per encoder forward")
    p.add_argument("--max-batch-seconds", type=float, default=120.0,
                   help="cap on the summed audio duration of one batch")
    p.add_argument("--max-utt-seconds", type=float, default=600.0,
                   help="longer utterances fail (listed in OUT_DIR/failed): a whole recording given as a "
                        "segment, say (long audio itself is encoded in windows, memory flat)")
    p.add_argument("--beam-size", type=int, default=1, help="asr: 1 greedy, N > 1 beam search")
    p.add_argument("--language", help="asr: language of a multilingual Whisper model, e.g. en")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--compress", type=int, default=0,
                   help="kaldiio compression_method (0 = none; 3 = 2-byte, ~1e-4 error)")
    p.add_argument("--dtype", choices=DTYPES, default="float32",
                   help="stored values: float16 halves the disk (read back as float32; NumPy arrays "
                        "inside the ark, which Kaldi's C++ tools cannot read, see mer.features.dump_dtype)")
    p.add_argument("--skip-space-check", action="store_true",
                   help="dump even when the expected size exceeds the free space of OUT_DIR's disk")
    add_job_options(p)
    p.add_argument("data_dir", nargs="?")
    p.add_argument("out_dir", nargs="?")
    return p


def apply_feats_config(args, parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """Fill options from `--config` entry `--name`, except those given on the command line."""
    import yaml

    with open(args.config, encoding="utf-8") as f:
        conf = yaml.safe_load(f) or {}
    if args.list:
        print("\n".join(conf))
        raise SystemExit(0)
    if not args.name or args.name not in conf:
        parser.error(f"--name must be one of the entries of {args.config}: {', '.join(conf)}")
    given = {a[2:].split("=", 1)[0].replace("-", "_") for a in argv if a.startswith("--")}
    for key, value in (conf[args.name] or {}).items():
        if not hasattr(args, key):
            parser.error(f"{args.config}: entry '{args.name}' has unknown option '{key}'")
        if key not in given:
            setattr(args, key, True if value is True else value)
    try:  # YAML gives 30 or "utterance"; the settings stamp compares one normal form
        args.whisper_input_seconds = parse_whisper_window(args.whisper_input_seconds)
    except ValueError as e:
        parser.error(f"{args.config}: entry '{args.name}': {e}")


# ---------------------------------------------------------------- one job

def job_paths(out_dir: Path, nj: int, job: int) -> dict[str, Path]:
    split = out_dir / f"split{nj}"
    return {"ark": split / f"feats.{job}.ark", "scp": split / f"feats.{job}.scp",
            "frames": split / f"utt2num_frames.{job}", "failed": split / f"failed.{job}",
            "info": split / f"feats_info.{job}.json", "done": split / f".done.{job}",
            "progress": split / f"progress.{job}"}




# Options that change the features: finished jobs are only reused when these are the same.
FEATURE_OPTIONS = ("feature", "model", "layers", "num_mel_bins", "whisper_input_seconds", "clean_text", "compress",
                   "text_file", "allow_empty_text", "dtype")
# What a stamp written before an option existed stands for.
OPTION_DEFAULTS = {"allow_empty_text": False, "dtype": "float32"}
# Recorded with them in feats_info.json ("settings"), so the extractor can be rebuilt elsewhere
# (mer.features.build_extractor_from_settings) and batch the way the dump did.
BATCHING_OPTIONS = ("batch_size", "max_batch_seconds")


def check_options(args, split_dir: Path, data: DataDir) -> list[str]:
    """Refuse to mix features made with different settings, or for other utterances, in one OUT_DIR.

    Returns the utterance list the jobs split: the one stamped when this dump began (so that every
    job of a resumed dump covers the same utterances), which must include every utterance the data
    dir has now. Utterances removed since (failed ones that fix_data_dir dropped, say) stay dumped.
    """
    wanted = {k: getattr(args, k) for k in FEATURE_OPTIONS}
    wanted["data_dir"] = str(Path(args.data_dir).resolve())
    stamp, stamped_utts = split_dir / "options.json", split_dir / "utts"
    if stamp.is_file():
        have = json.loads(stamp.read_text())
        have = {**OPTION_DEFAULTS, **have}
        diff = {k: (have.get(k), v) for k, v in wanted.items() if have.get(k) != v}
        if diff:
            raise SystemExit(f"dump_feats: {split_dir.parent} holds jobs made with other settings "
                             f"({', '.join(f'{k}: {a!r} -> {b!r}' for k, (a, b) in diff.items())}); "
                             f"remove it or choose another OUT_DIR")
        if stamped_utts.is_file():
            utts = stamped_utts.read_text(encoding="utf-8").split()
            added = sorted(set(data.utts) - set(utts), key=c_sort_key)
            if added:
                raise SystemExit(f"dump_feats: {args.data_dir} has {len(added)} utterance(s) that were not in it "
                                 f"when {split_dir.parent} was dumped (e.g. {', '.join(added[:3])}); remove "
                                 f"{split_dir.parent} to dump again, or dump into another OUT_DIR")
            return utts
    split_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(stamped_utts, "".join(f"{u}\n" for u in data.utts))
    write_json_atomic(stamp, wanted)
    return data.utts


def redo_changed_jobs(args, data: DataDir, utts: list[str]) -> None:
    """Mark unfinished the jobs whose utterances' transcript, wav.scp entry or segment changed
    since they were dumped (mer.features.dump_sources)."""
    texts = None
    if args.feature == "hf-text":
        if args.text_file and not Path(args.text_file).is_file():
            return  # the job says so
        texts = read_kv(args.text_file, allow_empty_value=True) if args.text_file else data.text
    out, nj = Path(args.out_dir), args.nj
    present = [u for u in utts if u in data.utt2spk]
    redo_changed(out / f"split{nj}", utts, source_digests(data, present, texts),
                 [job_utts(utts, nj, j) for j in range(1, nj + 1)], lambda j: job_paths(out, nj, j)["done"],
                 [out / "feats.scp"])


def run_job(args, job: int, nj: int) -> int:
    """Extract features of job `job`; returns the number of failed utterances."""
    out_dir = Path(args.out_dir)
    paths = job_paths(out_dir, nj, job)
    data = DataDir.load(args.data_dir)
    all_utts = check_options(args, paths["ark"].parent, data)
    if paths["done"].is_file():
        log.info("job %d/%d already done, skipping", job, nj)
        paths["progress"].write_text(f"{len(job_utts(all_utts, nj, job))}\n")
        return len(read_kv(paths["failed"], allow_empty_value=True)) if paths["failed"].stat().st_size else 0
    # A job writes under temporary names, renamed when complete; its lock keeps a second writer
    # (an orphan of a killed run on a cluster, say) from truncating the same files.
    with DirLock(paths["ark"].parent, f"job {job} of {out_dir}", name=f".lock.{job}"):
        return _run_job(args, job, nj, data, job_utts(all_utts, nj, job), paths)


def _run_job(args, job: int, nj: int, data: DataDir, utts: list[str], paths: dict[str, Path]) -> int:
    import kaldiio
    from tqdm import tqdm

    from mer.features import build_extractor

    present = set(data.utt2spk)
    gone = [u for u in utts if u not in present]
    utts = [u for u in utts if u in present]
    try:
        extractor = build_extractor(args.feature, args.model, args.layers, args.device, args.num_mel_bins,
                                    args.whisper_input_seconds, args.clean_text)
    except (ValueError, OSError) as e:  # bad --layers, no --model, a model that cannot be loaded
        raise SystemExit(f"dump_feats: cannot set up --feature {args.feature}: {e}") from None
    batch_size = args.batch_size if getattr(extractor, "batchable", True) else 1
    if gone:  # removed from the data dir after this dump began: nothing to dump for them
        log.info("job %d: %d utterance(s) no longer in %s (e.g. %s)", job, len(gone), args.data_dir, gone[0])
    texts, text_source = data.text, f"{args.data_dir}/text"
    if extractor.kind == "text" and args.text_file:
        if not Path(args.text_file).is_file():
            raise SystemExit(f"dump_feats: --text-file {args.text_file} not found")
        texts, text_source = read_kv(args.text_file, allow_empty_value=True), args.text_file
    # read_kv refuses empty lines, so the n-th transcript is on line n.
    text_line = {u: n for n, u in enumerate(texts, 1)} if extractor.kind == "text" else {}
    empty_ok = set() if args.text_file else empty_text_allowed(args.data_dir)
    failed: dict[str, str] = {}
    frames: dict[str, str] = {}
    scp_tmp = paths["scp"].with_suffix(".scp.tmp")
    ark_tmp = paths["ark"].with_suffix(".ark.tmp")
    t0, audio_seconds = time.time(), 0.0
    processed = 0
    bar = tqdm(total=len(utts), desc=f"{args.feature} job {job}/{nj}", unit="utt",
               mininterval=1 if sys.stderr.isatty() else 30, disable=None)
    with kaldiio.WriteHelper(f"ark,scp:{ark_tmp.resolve()},{scp_tmp}",
                             **writer_options(args.dtype, args.compress)) as writer:
        for start in range(0, len(utts), READ_CHUNK):
            items = []
            for utt in utts[start:start + READ_CHUNK]:
                try:
                    if extractor.kind == "text":
                        if utt not in texts:
                            raise ValueError(f"no transcript in {text_source}")
                        if not texts[utt].strip() and not args.allow_empty_text and utt not in empty_ok:
                            raise ValueError(empty_text_problem(f"{text_source}:{text_line[utt]}", utt,
                                                                None if args.text_file else args.data_dir))
                        items.append((utt, texts[utt], float(len(texts[utt]))))
                    else:
                        wave = load_utterance(data, utt)
                        seconds = len(wave) / 16000
                        if seconds > args.max_utt_seconds:
                            raise ValueError(f"utterance {utt} is {seconds:.1f} s long, more than "
                                             f"--max-utt-seconds {args.max_utt_seconds:g} (a whole recording "
                                             f"instead of a segment?)")
                        items.append((utt, wave, seconds))
                except (AudioError, ValueError) as e:
                    failed[utt] = str(e)
                    log.warning("%s", e)
                    bar.update(1)
                    processed += 1
            # Audio longer than the encoder's window is encoded window by window (mer.features.windows).
            n_failed = len(failed)
            for utt, mat in encode_in_windows(extractor, items, batch_size, args.max_batch_seconds
                                              if extractor.kind == "audio" else float("inf"), failed):
                try:
                    stored = to_stored(mat, args.dtype, utt)
                except ValueError as e:  # counted with the other failures of the chunk below
                    failed[utt] = str(e)
                    log.warning("%s", e)
                    continue
                writer(utt, stored)
                frames[utt] = str(mat.shape[0])
                bar.update(1)
                processed += 1
                paths["progress"].write_text(f"{processed}\n")  # read by the driver's progress line
            bar.update(len(failed) - n_failed)
            processed += len(failed) - n_failed
            paths["progress"].write_text(f"{processed}\n")
            audio_seconds += sum(it[2] for it in items) if extractor.kind == "audio" else 0.0
    bar.close()
    elapsed = time.time() - t0
    write_kv(paths["frames"], frames)
    with atomic_open(paths["failed"]) as f:
        for utt in sorted(failed, key=c_sort_key):
            f.write(f"{utt}\t{' '.join(failed[utt].split())}\n")
    info = {"feature": args.feature, **extractor.info(), "dtype": args.dtype, "num_utts": len(frames), "num_failed": len(failed),
            **({"text_file": args.text_file} if extractor.kind == "text" and args.text_file else {}),
            "seconds": round(elapsed, 3)}
    if audio_seconds:
        info["audio_seconds"] = round(audio_seconds, 3)
        info["rtf"] = round(elapsed / audio_seconds, 5)
    write_json_atomic(paths["info"], info)
    write_checksum(ark_tmp, paths["ark"])  # checked by every stage that reads the ark
    # The scp names the temporary ark: point it at the final name, then rename both.
    tmp_name, final_name = str(ark_tmp.resolve()), str(paths["ark"].resolve())
    lines = scp_tmp.read_text(encoding="utf-8").splitlines()
    write_text_atomic(scp_tmp, "".join(ln.replace(tmp_name + ":", final_name + ":") + "\n" for ln in lines))
    os.replace(ark_tmp, paths["ark"])
    os.replace(scp_tmp, paths["scp"])
    write_text_atomic(paths["done"], f"{len(frames)}\n")
    log.info("job %d/%d: %d dumped, %d failed, %.1f s", job, nj, len(frames), len(failed), elapsed)
    return len(failed)



# ---------------------------------------------------------------- all jobs

def redo_damaged_jobs(out_dir: Path, nj: int) -> None:
    """A finished job whose ark no longer matches its checksum is done again: its marker goes."""
    for j in range(1, nj + 1):
        p = job_paths(out_dir, nj, j)
        if p["done"].is_file() and not ark_matches(p["ark"]):
            log.warning("job %d/%d: %s is missing or differs from its checksum: doing the job again", j, nj, p["ark"])
            p["done"].unlink()


def check_space(args, data: DataDir) -> None:
    """Log the dump's expected size; stop before any work when OUT_DIR's disk cannot hold it."""
    try:
        est = estimate(args, data)
    except (ValueError, OSError) as e:  # the extractor's own set-up names the problem
        log.warning("expected size of %s unknown (%s)", args.out_dir, e)
        return
    log.info("expected size of %s: about %s (%s, +10 %%)", args.out_dir, human(est.bytes), est.what)
    problem = space_problem([est], args.out_dir)
    if problem:
        raise SystemExit(f"dump_feats: {problem}")


def launch_jobs(args, argv: list[str]) -> None:
    out_dir = Path(args.out_dir)
    pending = [j for j in range(1, args.nj + 1) if not job_paths(out_dir, args.nj, j)["done"].is_file()]
    if not pending:
        log.info("all %d jobs already done", args.nj)
        return
    log.info("running %d job(s): %s", args.nj, args.cmd or "local processes")
    # Finished jobs are skipped inside the job itself, so the launcher can run 1..nj plainly.
    split = out_dir / f"split{args.nj}"
    total = len((split / "utts").read_text(encoding="utf-8").split()) if (split / "utts").is_file() else 0
    rc = run_array(args.cmd, args.nj, out_dir / "log" / "dump.JOB.log",
                   [command_python(), "-m", "mer.bin.dump_feats", *argv, "--job", "JOB"],
                   progress=lambda: jobs_progress(split), total=total, desc=f"{args.feature} {out_dir.name}")
    if rc != 0:
        # Jobs that fail as a whole (bad model path, out of memory) leave no .done marker;
        # the launcher has printed the tail of the first failed log.
        raise SystemExit(f"dump_feats: some jobs failed; see {out_dir}/log/ (finished jobs are kept)")


def jobs_progress(split: Path) -> int:
    """Utterances the jobs of a dump have processed so far (their progress.J files)."""
    done = 0
    for f in split.glob("progress.*"):
        try:
            done += int(f.read_text().strip() or 0)
        except (OSError, ValueError):  # being rewritten right now
            pass
    return done


def verify_job(paths: dict[str, Path], job: int) -> list[str]:
    """The job's scp lines, after checking that they point inside its complete ark: one entry per
    dumped utterance, offsets increasing within the file, the first and last matrices readable
    with the frame counts recorded. A failed check names the job and what is wrong."""
    import kaldiio

    lines = [ln for ln in paths["scp"].read_text(encoding="utf-8").splitlines() if ln.strip()]
    frames = read_kv(paths["frames"]) if paths["frames"].stat().st_size else {}
    done = int(paths["done"].read_text().strip() or 0)
    where = f"dump_feats: job {job} ({paths['scp']})"
    if not len(lines) == len(frames) == done:
        raise SystemExit(f"{where}: {len(lines)} scp entries, {len(frames)} frame counts, {done} recorded as "
                         f"done: the job's output is incomplete; remove {paths['done']} to redo the job")
    size = paths["ark"].stat().st_size if paths["ark"].is_file() else -1
    offsets = []
    for ln in lines:
        utt, _, entry = ln.partition(" ")
        ark, _, offset = entry.rpartition(":")
        if Path(ark).resolve() != paths["ark"].resolve() or not offset.isdigit() or not int(offset) < size:
            raise SystemExit(f"{where}: utterance {utt} points to {entry}, outside {paths['ark']} "
                             f"({size} bytes); remove {paths['done']} to redo the job")
        offsets.append(int(offset))
    if any(b <= a for a, b in zip(offsets, offsets[1:])):
        raise SystemExit(f"{where}: offsets are not increasing (the ark was written twice?); remove "
                         f"{paths['done']} to redo the job")
    for ln in (lines[:1] + lines[-1:]) if lines else []:
        utt, _, entry = ln.partition(" ")
        try:
            rows = kaldiio.load_mat(entry).shape[0]
        except Exception as e:  # noqa: BLE001 - a cut ark fails in several ways
            raise SystemExit(f"{where}: utterance {utt} cannot be read from {entry} ({e}); remove "
                             f"{paths['done']} to redo the job") from None
        if str(rows) != frames.get(utt):
            raise SystemExit(f"{where}: utterance {utt} has {rows} frames in the ark but {frames.get(utt)} in "
                             f"{paths['frames']}; remove {paths['done']} to redo the job")
    return lines


def merge(args) -> int:
    out_dir, nj = Path(args.out_dir), args.nj
    scp_lines, frames, failed, infos = [], {}, {}, []
    for j in range(1, nj + 1):
        p = job_paths(out_dir, nj, j)
        if not p["done"].is_file():
            raise SystemExit(f"dump_feats: job {j} has not finished ({p['done']} missing)")
        scp_lines += verify_job(p, j)
        frames.update(read_kv(p["frames"]) if p["frames"].stat().st_size else {})
        for ln in p["failed"].read_text(encoding="utf-8").splitlines():
            utt, _, reason = ln.partition("\t")
            failed[utt] = reason
        infos.append(json.loads(p["info"].read_text()))
    scp_lines.sort(key=lambda ln: c_sort_key(ln.split(maxsplit=1)[0]))
    with atomic_open(out_dir / "feats.scp") as f:
        f.writelines(ln + "\n" for ln in scp_lines)
    write_kv(out_dir / "utt2num_frames", frames)
    with atomic_open(out_dir / "failed") as f:
        for utt in sorted(failed, key=c_sort_key):
            f.write(f"{utt}\t{failed[utt]}\n")
    info = {k: v for k, v in infos[0].items() if k not in ("num_utts", "num_failed", "seconds", "audio_seconds", "rtf")}
    info.update(num_utts=len(frames), num_failed=len(failed), nj=nj, data_dir=str(Path(args.data_dir).resolve()),
                job_seconds=sum(i["seconds"] for i in infos),
                settings={k: getattr(args, k) for k in FEATURE_OPTIONS + BATCHING_OPTIONS})
    audio_s = sum(i.get("audio_seconds", 0.0) for i in infos)
    if audio_s:
        info.update(audio_seconds=round(audio_s, 3), rtf=round(info["job_seconds"] / audio_s, 5))
    write_json_atomic(out_dir / "feats_info.json", info)
    return len(failed)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = get_parser()
    args = parser.parse_args(argv)
    if args.config:
        apply_feats_config(args, parser, argv)
    if not args.feature or not args.data_dir or not args.out_dir:
        parser.error("--feature (or --config/--name), DATA_DIR and OUT_DIR are required")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s")
    if args.nj < 1:
        raise SystemExit("--nj must be >= 1")
    try:
        check_dtype(args.dtype, args.compress)
    except ValueError as e:
        parser.error(str(e))
    if args.feature != "hf-text" and not (Path(args.data_dir) / "wav.scp").is_file():
        # Otherwise every utterance fails alone, one 'no wav.scp entry' each, after the model loads.
        raise SystemExit(f"dump_feats: --feature {args.feature}{f' ({args.name})' if getattr(args, 'name', None) else ''} "
                         f"reads audio, but {args.data_dir} has no wav.scp: the corpus was prepared "
                         f"without audio (stage 1 says why, e.g. no media folders); give it the audio, "
                         f"or run a text-only recipe/config")
    if args.feature == "asr":  # OUT_DIR/text (+ failed, settings.json) instead of feats.scp
        from mer.bin.transcribe import run as transcribe

        return transcribe(args)
    try:
        if args.job is not None:
            run_job(args, args.job, args.nj)
            return 0  # failures are collected by merge()
        Path(args.out_dir).mkdir(parents=True, exist_ok=True)
        # One driver per dump dir: a second run stops here, naming the one already writing.
        with DirLock(args.out_dir, f"dump dir {args.out_dir}", log=log):
            data = DataDir.load(args.data_dir)
            if not args.skip_space_check:
                check_space(args, data)
            redo_changed_jobs(args, data, check_options(args, Path(args.out_dir) / f"split{args.nj}", data))
            redo_damaged_jobs(Path(args.out_dir), args.nj)
            if args.nj == 1:
                run_job(args, 1, 1)
            else:
                launch_jobs(args, argv)
            n_failed = merge(args)
    except (LockHeld, OSError, ValueError) as e:  # held lock, unwritable OUT_DIR, bad data dir file
        raise SystemExit(f"dump_feats: error: {e}") from None
    n_ok = sum(1 for _ in open(Path(args.out_dir) / "feats.scp", encoding="utf-8"))
    log.info("dumped %d utterances to %s/feats.scp; %d failed", n_ok, args.out_dir, n_failed)
    return failures_exit_status("dump_feats", n_failed, args)


if __name__ == "__main__":
    import signal

    # SIGTERM (a stopped stage, a cluster's time limit) unwinds: the dump dir's lock is released.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    sys.exit(main())
