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

Batching: text encoders and layer-norm speech encoders run length-sorted batches with attention
masks; group-norm speech encoders (wav2vec 2.0 / HuBERT base) one utterance at a time, since
padding changes their outputs. Whisper (`--whisper-input-seconds`): with a window in seconds
(30 = the model's own) every utterance is padded to it; with `utterance` each is encoded at its own
length (2 mel frames per 20 ms output frame), and only utterances of the same length share a
forward pass, since Whisper's encoder has no attention mask.

Writes OUT_DIR/feats.scp (one float32 matrix frames x dim per utterance; with several layers they
stand side by side: frames x (n_layers * dim)), OUT_DIR/utt2num_frames, OUT_DIR/feats_info.json,
and OUT_DIR/failed (`utt<TAB>reason`) for utterances that could not be processed. Every good
utterance is dumped; the command exits 1 when some failed, unless --tolerate-failures. Drop them
with `utils/fix_data_dir.sh --exclude OUT_DIR/failed DATA_DIR`.

With --nj N the utterances are split into N jobs run through CMD (the recipe's cmd.sh backend,
default: local processes); a re-run skips jobs that finished. Logs: OUT_DIR/log/dump.JOB.log.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from mer.data.audio import AudioError, load_utterance
from mer.data.datadir import DataDir
from mer.data.kaldi_io import c_sort_key, read_kv, write_kv
from mer.features import FEATURE_TYPES, parse_whisper_window
from mer.utils.fileio import atomic_open, write_json_atomic

log = logging.getLogger("dump_feats")
# Audio is read this many utterances at a time, then length-sorted into batches.
READ_CHUNK = 256


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
    p.add_argument("--feature", choices=(*FEATURE_TYPES, "asr"))
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
    p.add_argument("--batch-size", type=int, default=8, help="utterances per encoder forward")
    p.add_argument("--max-batch-seconds", type=float, default=120.0,
                   help="cap on the summed audio duration of one batch")
    p.add_argument("--beam-size", type=int, default=1, help="asr: 1 greedy, N > 1 beam search")
    p.add_argument("--language", help="asr: language of a multilingual Whisper model, e.g. en")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--compress", type=int, default=0,
                   help="kaldiio compression_method (0 = none; 3 = 2-byte, ~1e-4 error)")
    add_job_options(p)
    p.add_argument("data_dir", nargs="?")
    p.add_argument("out_dir", nargs="?")
    return p


def add_job_options(p: argparse.ArgumentParser) -> None:
    """--nj, --cmd, --tolerate-failures and the internal --job (also used by mer.bin.transcribe)."""
    p.add_argument("--nj", type=int, default=1)
    p.add_argument("--cmd", default=os.environ.get("MER_CMD", ""),
                   help="job launcher with Kaldi's run.pl interface (default: local processes)")
    p.add_argument("--tolerate-failures", action="store_true",
                   help="exit 0 even when some utterances failed (they are still listed in OUT_DIR/failed)")
    p.add_argument("--job", type=int, help=argparse.SUPPRESS)  # internal: run only this job


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
            "info": split / f"feats_info.{job}.json", "done": split / f".done.{job}"}


def job_utts(utts: list[str], nj: int, job: int) -> list[str]:
    return [list(part) for part in np.array_split(np.array(utts, dtype=object), nj)][job - 1]


def _batches(items: list[tuple[str, object, float]], batch_size: int, max_seconds: float):
    """Length-sorted batches of (utt, input, seconds): similar lengths waste less padding."""
    items = sorted(items, key=lambda t: t[2])
    batch: list = []
    for it in items:
        if batch and (len(batch) >= batch_size or sum(b[2] for b in batch) + it[2] > max_seconds):
            yield batch
            batch = []
        batch.append(it)
    if batch:
        yield batch


# Options that change the features: finished jobs are only reused when these are the same.
FEATURE_OPTIONS = ("feature", "model", "layers", "num_mel_bins", "whisper_input_seconds", "clean_text", "compress",
                   "text_file")


def check_options(args, split_dir: Path) -> None:
    """Refuse to mix features made with different settings in one OUT_DIR."""
    wanted = {k: getattr(args, k) for k in FEATURE_OPTIONS}
    wanted["data_dir"] = str(Path(args.data_dir).resolve())
    stamp = split_dir / "options.json"
    if stamp.is_file():
        have = json.loads(stamp.read_text())
        diff = {k: (have.get(k), v) for k, v in wanted.items() if have.get(k) != v}
        if diff:
            raise SystemExit(f"dump_feats: {split_dir.parent} holds jobs made with other settings "
                             f"({', '.join(f'{k}: {a!r} -> {b!r}' for k, (a, b) in diff.items())}); "
                             f"remove it or choose another OUT_DIR")
    else:
        split_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(stamp, wanted)


def run_job(args, job: int, nj: int) -> int:
    """Extract features of job `job`; returns the number of failed utterances."""
    import kaldiio
    from tqdm import tqdm

    from mer.features import build_extractor

    out_dir = Path(args.out_dir)
    paths = job_paths(out_dir, nj, job)
    check_options(args, paths["ark"].parent)
    if paths["done"].is_file():
        log.info("job %d/%d already done, skipping", job, nj)
        return len(read_kv(paths["failed"], allow_empty_value=True)) if paths["failed"].stat().st_size else 0
    paths["ark"].parent.mkdir(parents=True, exist_ok=True)
    data = DataDir.load(args.data_dir)
    utts = job_utts(data.utts, nj, job)
    try:
        extractor = build_extractor(args.feature, args.model, args.layers, args.device, args.num_mel_bins,
                                    args.whisper_input_seconds, args.clean_text)
    except (ValueError, OSError) as e:  # bad --layers, no --model, a model that cannot be loaded
        raise SystemExit(f"dump_feats: cannot set up --feature {args.feature}: {e}") from None
    batch_size = args.batch_size if getattr(extractor, "batchable", True) else 1
    texts, text_source = data.text, f"{args.data_dir}/text"
    if extractor.kind == "text" and args.text_file:
        if not Path(args.text_file).is_file():
            raise SystemExit(f"dump_feats: --text-file {args.text_file} not found")
        texts, text_source = read_kv(args.text_file, allow_empty_value=True), args.text_file
    failed: dict[str, str] = {}
    frames: dict[str, str] = {}
    scp_tmp = paths["scp"].with_suffix(".scp.tmp")
    t0, audio_seconds = time.time(), 0.0
    bar = tqdm(total=len(utts), desc=f"{args.feature} job {job}/{nj}", unit="utt",
               mininterval=1 if sys.stderr.isatty() else 30, disable=None)
    with kaldiio.WriteHelper(f"ark,scp:{paths['ark'].resolve()},{scp_tmp}",
                             compression_method=args.compress or None) as writer:
        for start in range(0, len(utts), READ_CHUNK):
            items = []
            for utt in utts[start:start + READ_CHUNK]:
                try:
                    if extractor.kind == "text":
                        if utt not in texts:
                            raise ValueError(f"no transcript in {text_source}")
                        items.append((utt, texts[utt], float(len(texts[utt]))))
                    else:
                        wave = load_utterance(data, utt)
                        items.append((utt, wave, len(wave) / 16000))
                except (AudioError, ValueError) as e:
                    failed[utt] = str(e)
                    log.warning("%s", e)
                    bar.update(1)
            for batch in _batches(items, batch_size, args.max_batch_seconds if extractor.kind == "audio"
                                  else float("inf")):
                for utt, mat in _extract(extractor, batch, failed):
                    writer(utt, mat)
                    frames[utt] = str(mat.shape[0])
                audio_seconds += sum(b[2] for b in batch) if extractor.kind == "audio" else 0.0
                bar.update(len(batch))
    bar.close()
    elapsed = time.time() - t0
    write_kv(paths["frames"], frames)
    with atomic_open(paths["failed"]) as f:
        for utt in sorted(failed, key=c_sort_key):
            f.write(f"{utt}\t{' '.join(failed[utt].split())}\n")
    info = {"feature": args.feature, **extractor.info(), "num_utts": len(frames), "num_failed": len(failed),
            **({"text_file": args.text_file} if extractor.kind == "text" and args.text_file else {}),
            "seconds": round(elapsed, 3)}
    if audio_seconds:
        info["audio_seconds"] = round(audio_seconds, 3)
        info["rtf"] = round(elapsed / audio_seconds, 5)
    write_json_atomic(paths["info"], info)
    os.replace(scp_tmp, paths["scp"])
    paths["done"].write_text(f"{len(frames)}\n")
    log.info("job %d/%d: %d dumped, %d failed, %.1f s", job, nj, len(frames), len(failed), elapsed)
    return len(failed)


def _extract(extractor, batch, failed: dict[str, str]):
    """Run one batch; if the batch fails, retry its utterances one by one to isolate the bad one."""
    try:
        mats = extractor([b[1] for b in batch])
        results = list(zip([b[0] for b in batch], mats))
    except Exception as e:  # noqa: BLE001 - any encoder error is isolated below
        if len(batch) == 1:
            failed[batch[0][0]] = f"feature extraction failed: {e.__class__.__name__}: {e}"
            log.warning("utterance %s: %s", batch[0][0], failed[batch[0][0]])
            return []
        results = []
        for item in batch:
            results.extend(_extract(extractor, [item], failed))
        return results
    good = []
    for utt, mat in results:
        mat = np.asarray(mat, dtype=np.float32)
        if mat.ndim != 2 or mat.shape[0] == 0:
            failed[utt] = f"feature extraction gave an empty matrix of shape {mat.shape}"
        elif not np.all(np.isfinite(mat)):
            failed[utt] = "feature extraction gave NaN or infinite values"
        else:
            good.append((utt, mat))
    return good


# ---------------------------------------------------------------- all jobs

def launch_jobs(args, argv: list[str]) -> None:
    out_dir = Path(args.out_dir)
    pending = [j for j in range(1, args.nj + 1) if not job_paths(out_dir, args.nj, j)["done"].is_file()]
    if not pending:
        log.info("all %d jobs already done", args.nj)
        return
    cmd = shlex.split(args.cmd) if args.cmd else [sys.executable, "-m", "mer.bin.run_jobs", "--backend", "local"]
    job_cmd = [sys.executable, "-m", "mer.bin.dump_feats", *argv, "--job", "JOB"]
    log_path = out_dir / "log" / "dump.JOB.log"
    log.info("running %d job(s): %s", args.nj, " ".join(cmd))
    # Finished jobs are skipped inside the job itself, so the launcher can run 1..nj plainly.
    rc = subprocess.run([*cmd, f"JOB=1:{args.nj}", str(log_path), *job_cmd]).returncode
    if rc != 0:
        # Jobs that fail as a whole (bad model path, out of memory) leave no .done marker;
        # the launcher has printed the tail of the first failed log.
        raise SystemExit(f"dump_feats: some jobs failed; see {out_dir}/log/ (finished jobs are kept)")


def merge(args) -> int:
    out_dir, nj = Path(args.out_dir), args.nj
    scp_lines, frames, failed, infos = [], {}, {}, []
    for j in range(1, nj + 1):
        p = job_paths(out_dir, nj, j)
        if not p["done"].is_file():
            raise SystemExit(f"dump_feats: job {j} has not finished ({p['done']} missing)")
        scp_lines += [ln for ln in p["scp"].read_text(encoding="utf-8").splitlines() if ln.strip()]
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
                job_seconds=sum(i["seconds"] for i in infos))
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
    if args.feature == "asr":  # OUT_DIR/text (+ failed, settings.json) instead of feats.scp
        from mer.bin.transcribe import run as transcribe

        return transcribe(args)
    if args.job is not None:
        run_job(args, args.job, args.nj)
        return 0  # failures are collected by merge()
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    if args.nj == 1:
        run_job(args, 1, 1)
    else:
        launch_jobs(args, argv)
    n_failed = merge(args)
    n_ok = sum(1 for _ in open(Path(args.out_dir) / "feats.scp", encoding="utf-8"))
    log.info("dumped %d utterances to %s/feats.scp; %d failed", n_ok, args.out_dir, n_failed)
    return failures_exit_status("dump_feats", n_failed, args)


def failures_exit_status(prog: str, n_failed: int, args) -> int:
    """1 when utterances failed (they are in OUT_DIR/failed), unless --tolerate-failures; else 0."""
    if n_failed:
        msg = (f"{prog}: {n_failed} utterance(s) failed, listed in {args.out_dir}/failed; drop them with "
               f"utils/fix_data_dir.sh --exclude {args.out_dir}/failed {args.data_dir}")
        if not args.tolerate_failures:
            print(msg, file=sys.stderr)
            return 1
        log.warning("%s", msg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
