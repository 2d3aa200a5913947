"""Transcribe every utterance of a Kaldi data directory: the reusable entry point.

`transcribe_data_dir(data_dir, out_dir, model, ...)` writes into OUT_DIR:
  settings.json    the model and the options that change hypotheses (a re-run with others is refused)
  text             `<utt> <hypothesis>`, C-sorted, written atomically
  failed           `utt<TAB>reason` for utterances that could not be read or decoded
  wer.json, alignment.txt   when DATA_DIR/text exists (see mer.asr.wer)
  split<nj>/       per job: text.<j>, failed.<j>, .done.<j>; text.<j>.partial is the journal of a
                   job that has not finished (hypotheses appended batch by batch)
  log/transcribe.<j>.log    with nj > 1

Re-running continues: finished jobs are skipped, and an unfinished job keeps the hypotheses of
its journal and decodes only the rest. Utterances are split into jobs and batched by length as
`mer.bin.dump_feats` does; nj > 1 runs `python -m mer.bin.transcribe --job JOB` through `cmd`
(a launcher with Kaldi's run.pl interface, e.g. utils/local_cmd.sh; default: local processes).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from mer.asr.wer import score_wer, wer_summary, write_wer
from mer.features.batching import READ_CHUNK, length_batches, job_utts
from mer.data.audio import TARGET_SR, AudioError, load_utterance
from mer.data.datadir import DataDir
from mer.data.kaldi_io import DataFileError, c_sort_key, read_kv, write_kv
from mer.jobs import run_array
from mer.utils.fileio import atomic_open, write_json_atomic, write_text_atomic
from mer.warm import command_python

log = logging.getLogger("transcribe")
# Settings that change the hypotheses: finished work is only reused when these are the same.
HYPOTHESIS_SETTINGS = ("model_dir", "beam_size", "language", "data_dir")


class TranscriptionError(RuntimeError):
    """A problem with the whole run (data dir, model, settings, a job), not with one utterance."""


@dataclass
class TranscriptionResult:
    out_dir: Path
    hyps: dict[str, str]       # utt -> hypothesis
    failed: dict[str, str]     # utt -> reason
    wer: dict | None           # wer.json's content; None without DATA_DIR/text


# ---------------------------------------------------------------- files

def job_paths(out_dir: Path, nj: int, job: int) -> dict[str, Path]:
    split = out_dir / f"split{nj}"
    return {"text": split / f"text.{job}", "partial": split / f"text.{job}.partial",
            "failed": split / f"failed.{job}", "done": split / f".done.{job}"}


def read_failed(path: Path) -> dict[str, str]:
    out = {}
    for ln in path.read_text(encoding="utf-8").splitlines():
        utt, _, reason = ln.partition("\t")
        out[utt] = reason
    return out


def write_failed(path: Path, failed: dict[str, str]) -> None:
    with atomic_open(path) as f:
        for utt in sorted(failed, key=c_sort_key):
            f.write(f"{utt}\t{' '.join(failed[utt].split())}\n")


def read_journal(path: Path) -> dict[str, str]:
    """Hypotheses of an unfinished job. A line cut by a kill is dropped, and cut off the file so
    that appending goes on after the last whole line."""
    if not path.is_file():
        return {}
    data = path.read_bytes()
    whole = data[:data.rfind(b"\n") + 1]
    if len(whole) != len(data):
        with open(path, "r+b") as f:
            f.truncate(len(whole))
    hyps = {}
    for ln in whole.decode("utf-8").splitlines():
        utt, _, hyp = ln.partition(" ")
        hyps[utt] = hyp
    return hyps


def load_data_dir(data_dir) -> DataDir:
    try:
        data = DataDir.load(data_dir)
    except (OSError, DataFileError, ValueError) as e:
        raise TranscriptionError(f"cannot read data dir {data_dir}: {e}") from None
    if not data.wav_scp:
        raise TranscriptionError(f"{data_dir} has no wav.scp: nothing to transcribe")
    return data


def model_settings(data_dir, model: str, beam_size: int, batch_size: int, language: str | None,
                   device: str, nj: int) -> dict:
    """What settings.json records."""
    import transformers

    from mer.asr.normalize import normalizer_info
    from mer.pretrained import PretrainedError, resolve_model

    try:
        model_dir = resolve_model(model)
    except PretrainedError as e:
        raise TranscriptionError(str(e)) from None
    if Path(model_dir).is_dir():
        model_dir = str(Path(model_dir).resolve())
    return {"model": str(model), "model_dir": model_dir, "beam_size": beam_size, "language": language,
            "batch_size": batch_size, "device": device, "nj": nj, "data_dir": str(Path(data_dir).resolve()),
            "decoding": "greedy" if beam_size == 1 else f"beam search ({beam_size})",
            "normalisation": normalizer_info(language), "transformers": transformers.__version__}


def check_settings(out_dir: Path, settings: dict, write: bool) -> None:
    """Refuse to mix hypotheses made with other settings in one OUT_DIR."""
    path = out_dir / "settings.json"
    if path.is_file():
        have = json.loads(path.read_text(encoding="utf-8"))
        diff = {k: (have.get(k), settings[k]) for k in HYPOTHESIS_SETTINGS if have.get(k) != settings[k]}
        if diff:
            raise TranscriptionError(
                f"{out_dir} holds hypotheses made with other settings "
                f"({', '.join(f'{k}: {a!r} -> {b!r}' for k, (a, b) in diff.items())}); "
                f"remove it or choose another OUT_DIR")
    if write:
        write_json_atomic(path, settings)


# ---------------------------------------------------------------- one job

def _decode(transcriber, batch, failed: dict[str, str]) -> list[tuple[str, str]]:
    """Decode one batch of (utt, wave, seconds, source); if it fails, retry one by one to isolate
    the utterance that breaks it."""
    try:
        return list(zip([b[0] for b in batch], transcriber([b[1] for b in batch])))
    except Exception as e:  # noqa: BLE001 - any model error is isolated to its utterance
        if len(batch) == 1:
            utt, _, _, source = batch[0]
            failed[utt] = f"utterance {utt}: decoding '{source}' failed: {e.__class__.__name__}: {e}"
            log.warning("%s", failed[utt])
            return []
        return [r for item in batch for r in _decode(transcriber, [item], failed)]


def load_transcriber(model: str, beam_size: int, language: str | None, device: str):
    from mer.asr.whisper import WhisperTranscriber
    from mer.pretrained import PretrainedError

    try:
        return WhisperTranscriber(model, beam_size=beam_size, language=language, device=device)
    except (OSError, ValueError, PretrainedError) as e:  # no such dir, not a Whisper model, bad language
        raise TranscriptionError(f"cannot load Whisper model '{model}': {e}") from None


def run_job(data_dir, out_dir, nj: int, job: int, *, model: str, beam_size: int = 1, batch_size: int = 8,
            language: str | None = None, device: str = "auto") -> int:
    """Transcribe job `job` of `nj`; returns its number of failed utterances."""
    out_dir = Path(out_dir)
    paths = job_paths(out_dir, nj, job)
    if paths["done"].is_file():
        log.info("job %d/%d already done, skipping", job, nj)
        return len(read_failed(paths["failed"]))
    paths["done"].parent.mkdir(parents=True, exist_ok=True)
    data = load_data_dir(data_dir)
    utts = job_utts(data.utts, nj, job)
    mine = set(utts)
    hyps = {u: h for u, h in read_journal(paths["partial"]).items() if u in mine}
    todo = [u for u in utts if u not in hyps]
    if hyps:
        log.info("job %d/%d: %d utterance(s) kept from an earlier run, %d to go", job, nj, len(hyps), len(todo))
    failed: dict[str, str] = {}
    t0, audio_seconds = time.time(), 0.0
    transcriber = load_transcriber(model, beam_size, language, device) if todo else None
    with open(paths["partial"], "a", encoding="utf-8") as journal:
        for start in range(0, len(todo), READ_CHUNK):
            items = []
            for utt in todo[start:start + READ_CHUNK]:
                try:
                    wave = load_utterance(data, utt)
                except AudioError as e:
                    failed[utt] = str(e)
                    log.warning("%s", e)
                    continue
                items.append((utt, wave, len(wave) / TARGET_SR, data.audio_spec(utt)[0]))
            # Whisper pads every input to 30 s: length sorting groups hypotheses of similar length.
            for batch in length_batches(items, batch_size, float("inf")):
                done = _decode(transcriber, batch, failed)
                journal.writelines(f"{utt} {hyp}\n" for utt, hyp in done)
                journal.flush()  # a kill loses at most the batch being decoded
                hyps.update(done)
                audio_seconds += sum(b[2] for b in batch)
    elapsed = time.time() - t0
    write_kv(paths["text"], {u: hyps[u] for u in utts if u in hyps})
    write_failed(paths["failed"], failed)
    write_text_atomic(paths["done"], f"{len(hyps)}\n")
    paths["partial"].unlink()
    log.info("job %d/%d: %d transcribed, %d failed; %.1f s for %.1f s of new audio%s", job, nj, len(hyps),
             len(failed), elapsed, audio_seconds,
             f" (real-time factor {elapsed / audio_seconds:.3f})" if audio_seconds else "")
    return len(failed)


# ---------------------------------------------------------------- all jobs

def launch_jobs(out_dir: Path, nj: int, cmd: str, job_args: list[str]) -> None:
    """Run the unfinished jobs through `cmd` as `python -m mer.bin.transcribe JOB_ARGS --job JOB`."""
    if all(job_paths(out_dir, nj, j)["done"].is_file() for j in range(1, nj + 1)):
        log.info("all %d jobs already done", nj)
        return
    log.info("running %d job(s): %s", nj, cmd or "local processes")
    # Finished jobs return at once (their .done marker), so the launcher can run 1..nj plainly.
    rc = run_array(cmd, nj, out_dir / "log" / "transcribe.JOB.log",
                   [command_python(), "-m", "mer.bin.transcribe", *job_args, "--job", "JOB"])
    if rc != 0:
        raise TranscriptionError(f"some transcription jobs failed; see {out_dir}/log/ "
                                 f"(finished jobs and utterances are kept)")


def merge(out_dir: Path, nj: int, data: DataDir) -> tuple[dict[str, str], dict[str, str]]:
    """Join the jobs' outputs into OUT_DIR/text and OUT_DIR/failed."""
    hyps: dict[str, str] = {}
    failed: dict[str, str] = {}
    for j in range(1, nj + 1):
        p = job_paths(out_dir, nj, j)
        if not p["done"].is_file():
            raise TranscriptionError(f"job {j} has not finished ({p['done']} missing)")
        hyps.update(read_kv(p["text"], allow_empty_value=True))
        failed.update(read_failed(p["failed"]))
    missing = [u for u in data.utts if u not in hyps and u not in failed]
    if missing:
        raise TranscriptionError(f"{len(missing)} utterance(s) of the data dir are in no job's output "
                                 f"(e.g. {', '.join(missing[:3])}): the data dir changed after "
                                 f"{out_dir}/split{nj} was made; remove that directory")
    write_kv(out_dir / "text", hyps)
    write_failed(out_dir / "failed", failed)
    return hyps, failed


def transcribe_data_dir(data_dir, out_dir, model: str, *, beam_size: int = 1, batch_size: int = 8,
                        language: str | None = None, nj: int = 1, cmd: str = "",
                        device: str = "auto") -> TranscriptionResult:
    """Transcribe every utterance of `data_dir` into `out_dir` (see the module docstring).

    Utterances that fail are listed in the result's `failed` (and OUT_DIR/failed), not raised;
    a TranscriptionError means the run as a whole could not go on (finished work is kept)."""
    if nj < 1:
        raise TranscriptionError(f"nj must be >= 1, got {nj}")
    out_dir = Path(out_dir)
    data = load_data_dir(data_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = model_settings(data_dir, model, beam_size, batch_size, language, device, nj)
    check_settings(out_dir, settings, write=True)
    opts = dict(model=settings["model_dir"], beam_size=beam_size, batch_size=batch_size, language=language,
                device=device)
    if nj == 1:
        run_job(data_dir, out_dir, 1, 1, **opts)
    else:
        job_args = [a for k, v in opts.items() if v is not None for a in (f"--{k.replace('_', '-')}", str(v))]
        launch_jobs(out_dir, nj, cmd, [*job_args, "--nj", str(nj), str(data_dir), str(out_dir)])
    hyps, failed = merge(out_dir, nj, data)
    wer = None
    if data.text:
        scored = score_wer(data.text, hyps, language)
        write_wer(out_dir, scored)
        wer = wer_summary(scored)
        log.info("WER %s over %d utterance(s): %d substitutions, %d deletions, %d insertions, %d reference words",
                 "n/a" if wer["wer"] is None else f"{100 * wer['wer']:.2f}%", wer["num_utts"],
                 wer["substitutions"], wer["deletions"], wer["insertions"], wer["ref_words"])
    return TranscriptionResult(out_dir, hyps, failed, wer)
