"""Dump speed of a HuBERT-base-sized encoder, one utterance at a time against batched.

Usage:
  python -m mer.bin.bench_encoder [--device cpu|cuda] [--utts 6] [--batch-size 8]
  python -m mer.bin.bench_encoder --long-seconds 1200 [--model whisper-tiny.en] [--device cpu]

HuBERT base's sizes (transformers' HubertConfig() defaults: 12 layers, 768-d, the group-norm
front end) with random weights (speed does not depend on them), saved and loaded as a dump loads a
model, run through the dumps' own batching and windowing (`mer.features.windows`) with every hidden
state kept, over a few utterances of different lengths (1 to 4 s). Prints the real-time factor
(seconds of processing per second of audio) at batch 1 and batched. `make bench` runs it (through
mer.bin.bench) on the CPU, and on the GPU where one is visible.

With --long-seconds S it instead encodes one synthetic recording of S seconds with --model through
the same windowing, and prints its frames, the time taken and the process's peak memory (run it
once per length: the peak is the process's own).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time

import numpy as np


def hubert_batching_rtf(device: str, n_utts: int = 6, batch_size: int = 8) -> dict[str, float]:
    """{"batch 1": RTF, "batch N": RTF} of a HuBERT-base-sized encoder on `device`."""
    import torch
    from transformers import HubertConfig, HubertModel

    from mer.features.hf import HFSpeechEncoder
    from mer.features.windows import encode_in_windows

    rng = np.random.default_rng(0)
    seconds = np.linspace(1.0, 4.0, n_utts)
    items = [(f"u{i}", (0.1 * rng.standard_normal(int(s * 16000))).astype(np.float32), float(s))
             for i, s in enumerate(seconds)]
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        HubertModel(HubertConfig()).save_pretrained(tmp)
        enc = HFSpeechEncoder(tmp, layers="all", device=device)
    def encode(batch: int) -> None:
        list(encode_in_windows(enc, items, batch, 120.0, {}))

    out = {}
    encode(batch_size)  # warm-up: kernel selection, allocator
    for b in (1, batch_size):
        t0 = time.perf_counter()
        encode(b)
        out[f"batch {b}"] = (time.perf_counter() - t0) / float(seconds.sum())
    return out


def report(device: str, n_utts: int = 6, batch_size: int = 8) -> str:
    rtf = hubert_batching_rtf(device, n_utts, batch_size)
    (k1, r1), (kn, rn) = rtf.items()
    return (f"dump hubert-base-sized (random weights, all layers) on {device}, {n_utts} utterances of 1-4 s: "
            f"RTF {k1} {r1:.4f}, {kn} {rn:.4f} ({r1 / rn:.1f}x)")


def long_recording(model: str, seconds: float, device: str) -> str:
    import resource

    from mer.features import build_extractor
    from mer.features.windows import encode_in_windows

    enc = build_extractor("hf", model, device=device)
    wave = (0.1 * np.random.default_rng(0).standard_normal(int(seconds * 16000))).astype(np.float32)
    t0 = time.perf_counter()
    failed: dict[str, str] = {}
    feats = dict(encode_in_windows(enc, [("r", wave, seconds)], 8, 120.0, failed))
    elapsed = time.perf_counter() - t0
    if failed:
        raise SystemExit(f"bench_encoder: {failed['r']}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (f"long recording {seconds:g} s, {model} on {device}: {feats['r'].shape[0]} frames in "
            f"{elapsed:.1f} s, peak memory of the process {peak_mib:.0f} MiB")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--utts", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--long-seconds", type=float, help="time one recording this long instead (see above)")
    p.add_argument("--model", default="whisper-tiny.en", help="--long-seconds: the encoder")
    args = p.parse_args(argv)
    if args.long_seconds:
        print(long_recording(args.model, args.long_seconds, args.device))
        return 0
    print(report(args.device, args.utts, args.batch_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
