"""GPU benchmark, no data or downloads needed (random weights: speed does not depend on them).

Usage:
  python -m mer.bin.bench_gpu [--device cuda] [--seconds 600] [--utt-seconds 4] [--steps 50]

Prints, in well under five minutes on one GPU:
  - the real-time factor of dumping features with a HuBERT-base-sized encoder (12 layers, 768-d,
    every hidden state returned), batched;
  - MemoCMT (improved, 768-d, HuBERT- and BERT-sized inputs) training throughput in utterances per
    second with full precision and with mixed precision (bf16 where the GPU has it, else fp16);
  - the peak GPU memory of each.
`make bench` runs it after the CPU benchmark when a GPU is visible. `--tiny` shrinks everything so
the code path can be checked on a CPU.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch


def _peak_mb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def _reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def hubert_dump_rtf(device: torch.device, utt_seconds: float, batch: int, batches: int, tiny: bool) -> dict:
    from transformers import HubertConfig, HubertModel

    cfg = (HubertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        conv_dim=(32,) * 7) if tiny else HubertConfig())  # HubertConfig(): base sizes
    model = HubertModel(cfg).to(device).eval()
    wav = torch.randn(batch, int(16000 * utt_seconds), device=device)
    with torch.inference_mode():
        model(wav, output_hidden_states=True)  # warm-up (kernel selection, allocator)
        _reset(device)
        t0 = time.time()
        for _ in range(batches):
            out = model(wav, output_hidden_states=True)
            torch.stack(out.hidden_states).to("cpu", non_blocking=True)
        _sync(device)
    elapsed = time.time() - t0
    return {"rtf": elapsed / (batch * batches * utt_seconds), "peak_mb": _peak_mb(device),
            "layers": cfg.num_hidden_layers, "dim": cfg.hidden_size}


def memocmt_throughput(device: torch.device, amp, steps: int, batch: int, tiny: bool) -> dict:
    from mer.models import build_model
    from mer.inputs import InputInfo

    dim = 32 if tiny else 768
    conf = {"name": "memocmt", "variant": "improved", "aggregation": "min", "num_heads": 2 if tiny else 8,
            "ffn_dim": 4 * dim, "dim": dim}
    infos = {"audio": InputInfo("dump", dim, 1), "text": InputInfo("dump", dim, 1)}
    torch.manual_seed(0)
    model = build_model(conf, 4, infos).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 else None
    n_audio, n_text = (40, 12) if tiny else (200, 40)  # 4 s of HuBERT frames, a sentence of tokens
    batch_in = {"audio": torch.randn(batch, n_audio, dim, device=device),
                "audio_lengths": torch.full((batch,), n_audio), "text": torch.randn(batch, n_text, dim, device=device),
                "text_lengths": torch.full((batch,), n_text), "dialog_lengths": torch.ones(batch, dtype=torch.long)}
    labels = torch.randint(0, 4, (batch,), device=device)

    def step():
        with torch.autocast(device.type, dtype=amp) if amp else torch.autocast(device.type, enabled=False):
            loss = model.loss(model(batch_in), labels).mean()
        opt.zero_grad(set_to_none=True)
        if scaler:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()

    for _ in range(3):
        step()  # warm-up
    _reset(device)
    t0 = time.time()
    for _ in range(steps):
        step()
    _sync(device)
    return {"utts_per_second": steps * batch / (time.time() - t0), "peak_mb": _peak_mb(device)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--utt-seconds", type=float, default=4.0)
    p.add_argument("--dump-batch", type=int, default=16)
    p.add_argument("--dump-batches", type=int, default=20)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--tiny", action="store_true", help="tiny models: check the code path on a CPU")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("bench_gpu: no CUDA device visible; nothing to measure", file=sys.stderr)
        return 0
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"gpu bench: {name}; torch {torch.__version__}")
    r = hubert_dump_rtf(device, args.utt_seconds, args.dump_batch, args.dump_batches, args.tiny)
    print(f"dump {'tiny HuBERT' if args.tiny else 'HuBERT-base-sized'} ({r['layers']} layers, {r['dim']}-d, all hidden states, batches of "
          f"{args.dump_batch} x {args.utt_seconds:g} s): RTF {r['rtf']:.5f}"
          + (f", peak {r['peak_mb']:.0f} MiB" if r["peak_mb"] is not None else ""))
    amp = None
    if device.type == "cuda":
        amp = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    for label, dtype in (("fp32", None), (str(amp).replace("torch.", "") if amp else None, amp)):
        if label is None:
            continue
        r = memocmt_throughput(device, dtype, args.steps, args.batch_size, args.tiny)
        print(f"train MemoCMT improved ({label}, batch {args.batch_size}): {r['utts_per_second']:.0f} utt/s"
              + (f", peak {r['peak_mb']:.0f} MiB" if r["peak_mb"] is not None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
