"""Dump speed of a HuBERT-base-sized encoder, one utterance at a time against batched.

Usage:
  python -m mer.bin.bench_encoder [--device cpu|cuda] [--utts 6] [--batch-size 8]

HuBERT base's sizes (transformers' HubertConfig() defaults: 12 layers, 768-d, the group-norm
front end) with random weights (speed does not depend on them), saved and loaded as a dump loads a
model, run through the dumps' own batching and windowing (`mer.features.windows`) with every hidden
state kept, over a few utterances of different lengths (1 to 4 s). Prints the real-time factor
(seconds of processing per second of audio) at batch 1 and batched. `make bench` runs it (through
mer.bin.bench) on the CPU, and on the GPU where one is visible.
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--utts", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=8)
    args = p.parse_args(argv)
    print(report(args.device, args.utts, args.batch_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
