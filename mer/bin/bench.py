"""Benchmark on a recipe's data: training throughput and feature-dumping real-time factor.

Usage:
  python -m mer.bin.bench --recipe egs/mini/memocmt [--epochs 2] [--dump-utts 48] [--device auto]
      [--dumps-only]

Needs the recipe's stages 1-2 (data and dumps); runs them first if they are missing. Prints:
  - training utterances per second of the `faithful` configuration (batch size 1) and of the
    improved one (length-bucketed batches), timed over --epochs epochs on fold1's training set;
  - the real-time factor (processing seconds / audio seconds) of dumping each encoder of the
    recipe's conf/feats.yaml, measured afresh on --dump-utts utterances; a Whisper entry is also
    timed with the other input window (`utterance` beside 30 s, or 30 s beside `utterance`);
  - the RTF of a HuBERT-base-sized encoder (random weights) at batch 1 and batched, on the CPU and
    on a GPU where one is visible (mer.bin.bench_encoder);
  - `train speedup vs batch-1: X.Xx` (bucketed batches against batch size 1, both on dumps);
  - last, this toolkit against MemoCMT's published training loop, which runs both frozen encoders
    inside every step at batch size 1: `speedup vs published loop, 1 epoch: X.Xx` and
    `..., 100 epochs: Y.Yx`, the toolkit's one-off dump of the training set counted once;
  - the same with MemoCMT's own encoders (HuBERT-base and BERT-base built from their configurations,
    random weights; mer.bench.published_loop) on --published-encoder-utts utterances:
    `speedup vs published loop (HuBERT-base + BERT-base), 1 epoch: X.Xx` and `..., 100 epochs: Y.Yx`.
On a GPU the training figures use mixed precision as the trainer does.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from mer.utils.device import pick_device

FAITHFUL = "conf/tuning/train_memocmt_faithful_min.yaml"
IMPROVED = "conf/tuning/train_memocmt_min.yaml"


def machine() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, {torch.get_num_threads()} threads"


def ensure_stages(recipe: Path) -> None:
    if not (recipe / "dump").is_dir() or not any((recipe / "data").glob("*/fold1/train")):
        logging.info("running the recipe's stages 1-2 first")
        subprocess.run(["./run.sh", "--stop_stage", "2"], cwd=recipe, check=True)


def train_throughput(recipe: Path, config: str, epochs: int, device: str) -> float:
    from mer.models import build_model, model_input_names
    from mer.train.config import load_config
    from mer.inputs import LabelMap, open_datasets
    from mer.train.dist import DistContext, init_distributed
    from mer.train.trainer import Trainer, seed_everything

    fold = next(sorted((recipe / "data").glob("*/fold1")).__iter__())
    conf = load_config(recipe / config, [f"train.epochs={epochs}"])
    label_map = LabelMap(conf["labels"], (recipe / "data/all/labels").read_text().split())
    labels = label_map.classes
    inputs, (train, valid) = open_datasets(conf, recipe / "dump", label_map, [fold / "train", fold / "valid"],
                                           model_input_names(conf["model"]))
    for source in inputs.values():  # read features before timing, as a long run has them cached
        for u in train.utts:
            source.load(train.data, u)
    seed_everything(0)
    model = build_model(conf["model"], len(labels), {k: s.info for k, s in inputs.items()})
    ctx: DistContext = init_distributed(device)
    with tempfile.TemporaryDirectory() as exp:
        trainer = Trainer(conf, exp, model, train, valid, labels, ctx)
        rates = []
        for epoch in range(1, epochs + 1):
            rates.append(trainer.train_epoch(epoch)["utts_per_second"])
    return max(rates)  # the first epoch includes warm-up; take the steady rate


def published_loop_seconds_per_utt(recipe: Path, n_utts: int, device: str) -> float:
    """Seconds per training utterance as MemoCMT's published code trains: batch size 1, the frozen
    audio and text encoders of conf/feats.yaml run inside every step (audio read, both encoded), then
    the faithful model's forward, loss, backward and optimiser step."""
    import yaml

    from mer.data.audio import load_utterance
    from mer.data.datadir import DataDir
    from mer.features import build_extractor
    from mer.models import build_model
    from mer.train.config import load_config
    from mer.inputs import InputInfo, normalize_input_spec

    conf = load_config(recipe / FAITHFUL)
    feats = yaml.safe_load((recipe / "conf/feats.yaml").read_text())
    extractors, infos = {}, {}
    for name in ("audio", "text"):
        entry = feats[normalize_input_spec(name, conf["inputs"][name])["name"]]
        opts = {k: v for k, v in entry.items() if k in ("model", "layers", "num_mel_bins", "whisper_input_seconds",
                                                        "clean_text")}
        extractors[name] = build_extractor(entry["feature"], device=device, **opts)
    fold = next(iter(sorted((recipe / "data").glob("*/fold1"))))
    train = DataDir.load(fold / "train")
    utts = train.utts[: n_utts + 1]
    labels = (recipe / "data/all/labels").read_text().split()

    def encode(utt):
        a = torch.from_numpy(extractors["audio"]([load_utterance(train, utt)])[0])[None]
        t = torch.from_numpy(extractors["text"]([train.text[utt]])[0])[None]
        return a, t

    a, t = encode(utts[0])  # builds the model from the encoders' real output sizes; warms up
    for name, x in (("audio", a), ("text", t)):
        stored = extractors[name].info().get("num_layers_stored", 1)
        infos[name] = InputInfo("dump", dim=x.shape[-1] // stored, num_layers=stored)
    torch.manual_seed(0)
    model = build_model(conf["model"], len(labels), infos).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=conf["optim"]["lr"])
    t0 = time.time()
    for utt in utts[1:]:
        a, t = encode(utt)
        batch = {"audio": a.to(device), "audio_lengths": torch.tensor([a.shape[1]]), "text": t.to(device),
                 "text_lengths": torch.tensor([t.shape[1]]), "dialog_lengths": torch.tensor([1])}
        out = model(batch)
        loss = model.loss(out, torch.tensor([labels.index(train.utt2emo[utt])], device=device)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.time() - t0) / max(1, len(utts) - 1)


def dump_variants(feats: dict) -> list[tuple[str, str, list[str]]]:
    """(label, entry, extra dump_feats args): each entry as configured, and each Whisper entry with
    the other input window too, so both settings are timed on the same utterances."""
    from mer.features import WHISPER_UTTERANCE, parse_whisper_window

    out = []
    for name, opts in feats.items():
        out.append((name, name, []))
        opts = opts or {}
        if opts.get("feature") == "hf" and "whisper" in str(opts.get("model", "")):
            window = parse_whisper_window(opts.get("whisper_input_seconds", 30))
            other = "30" if window == WHISPER_UTTERANCE else WHISPER_UTTERANCE
            out.append((f"{name} (whisper_input_seconds {other})", name, ["--whisper-input-seconds", other]))
    return out


def dump_rtf(recipe: Path, n_utts: int, device: str) -> dict[str, dict]:
    import yaml

    from mer.data.datadir import DataDir

    feats = yaml.safe_load((recipe / "conf/feats.yaml").read_text())
    data = DataDir.load(recipe / "data/all")
    utts = data.utts[:: max(1, len(data) // n_utts)][:n_utts]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        sub = Path(tmp) / "data"
        data.subset(utts).save(sub)
        for i, (label, name, extra) in enumerate(dump_variants(feats)):
            dump = Path(tmp) / f"dump{i}"
            t0 = time.time()
            subprocess.run([sys.executable, "-m", "mer.bin.dump_feats", "--config", str(recipe / "conf/feats.yaml"),
                            "--name", name, "--device", device, *extra, str(sub), str(dump)],
                           check=True, capture_output=True, cwd=recipe)
            wall = time.time() - t0
            info = json.loads((dump / "feats_info.json").read_text())
            audio_s = info.get("audio_seconds") or _audio_seconds(data, utts)
            out[label] = {"rtf": info["job_seconds"] / audio_s, "rtf_with_model_load": wall / audio_s,
                         "utts": len(utts), "audio_seconds": audio_s}
    return out


def _audio_seconds(data, utts) -> float:
    import soundfile as sf

    return sum(sf.info(data.audio_spec(u)[0]).duration for u in utts)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", default="egs/mini/memocmt")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--dump-utts", type=int, default=48)
    p.add_argument("--device", default="auto")
    p.add_argument("--dumps-only", action="store_true", help="time the feature dumps, not training")
    p.add_argument("--published-utts", type=int, default=24,
                   help="training utterances timed in the published loop (encoders in every step)")
    p.add_argument("--published-encoder-utts", type=int, default=4,
                   help="utterances timed with HuBERT-base + BERT-base (0: skip)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    recipe = Path(args.recipe).resolve()
    ensure_stages(recipe)
    device = pick_device(args.device).type
    print(f"machine: {machine()}; torch {torch.__version__}; device {device}")
    rtf = dump_rtf(recipe, args.dump_utts, device)
    for name, r in rtf.items():
        print(f"dump {name}: RTF {r['rtf']:.4f} ({r['rtf_with_model_load']:.4f} with model loading) "
              f"over {r['utts']} utterances, {r['audio_seconds']:.1f} s of audio")
    from mer.bin.bench_encoder import report as encoder_batching

    for encoder_device in ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",):
        print(encoder_batching(encoder_device))
    if args.dumps_only:
        return 0
    faithful = train_throughput(recipe, FAITHFUL, args.epochs, device)
    improved = train_throughput(recipe, IMPROVED, args.epochs, device)
    print(f"train faithful (batch 1): {faithful:.1f} utt/s")
    print(f"train improved (bucketed batches of 16): {improved:.1f} utt/s")
    print(f"train speedup vs batch-1: {improved / faithful:.1f}x")
    published = published_loop_seconds_per_utt(recipe, args.published_utts, device)
    n_train, train_audio = train_set_size(recipe)
    dump_once = sum(r["rtf"] for name, r in rtf.items() if "(" not in name) * train_audio
    toolkit_epoch = n_train / improved
    print(f"published loop (encoders in every step, batch 1): {published * 1000:.0f} ms/utt, "
          f"{published * n_train:.1f} s per epoch of {n_train} utterances; this toolkit: dump once "
          f"{dump_once:.1f} s, then {toolkit_epoch:.2f} s per epoch")
    for epochs in (1, 100):
        speedup = published * n_train * epochs / (dump_once + toolkit_epoch * epochs)
        print(f"speedup vs published loop, {epochs} epoch{'s' if epochs > 1 else ''}: {speedup:.1f}x")
    if args.published_encoder_utts > 0:
        print_published_encoders(recipe, args.published_encoder_utts, device)
    return 0


def print_published_encoders(recipe: Path, n_utts: int, device: str) -> None:
    from mer.bench.published_loop import ENCODER_NAMES, published_loop_times

    t = published_loop_times(recipe, FAITHFUL, IMPROVED, n_utts, device)
    print(f"published loop with {ENCODER_NAMES} (random weights, {t.utts} utterances): "
          f"{t.published * 1000:.0f} ms/utt; this toolkit: dump once {t.dump * 1000:.0f} ms/utt, then "
          f"{t.train_on_dump * 1000:.1f} ms/utt per epoch ({Path(IMPROVED).stem})")
    for epochs in (1, 100):
        print(f"speedup vs published loop ({ENCODER_NAMES}), {epochs} epoch{'s' if epochs > 1 else ''}: "
              f"{t.speedup(epochs):.1f}x")
    print(f"  ceiling over 100 epochs with a free training step (100 x published / dump, the same encoders "
          f"run once either way): {t.ceiling(100):.1f}x")


def train_set_size(recipe: Path) -> tuple[int, float]:
    """Utterances and audio seconds of fold1's training set."""
    from mer.data.datadir import DataDir
    from mer.inputs import WaveformInput

    train = DataDir.load(next(iter(sorted((recipe / "data").glob("*/fold1")))) / "train")
    durations = WaveformInput("audio")
    return len(train), sum(durations.length(train, u) for u in train.utts) / durations.sample_rate


if __name__ == "__main__":
    sys.exit(main())
