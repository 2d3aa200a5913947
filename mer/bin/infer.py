"""Run a trained model on a test set and save everything later stages need.

Usage:
  python -m mer.bin.infer --exp-dir exp/loso/train_memocmt_min/fold1 --data-dir data/loso/fold1/test \
      --dumpdir dump --out exp/loso/train_memocmt_min/fold1/decode_test \
      [--checkpoint best|last] [--protocol loso --fold 1 --corpus iemocap --system memocmt]

Writes to OUT: utt2pred (utterance, predicted label), classes (posterior order), posteriors.{ark,scp}
and embeddings.{ark,scp} (pooled vectors, for t-SNE), utt2emo (the reference, when the data dir has
labels) and meta.json, last. Scoring and plots read only these files.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch

from mer.data.kaldi_io import read_list
from mer.models import build_model, model_streams
from mer.scoring.decode_dir import write_decode_dir
from mer.train.config import load_config
from mer.train.data import open_datasets
from mer.train.trainer import amp_dtype, predict
from mer.utils.device import pick_device


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp-dir", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--dumpdir", default="dump")
    p.add_argument("--out", required=True)
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default="auto")
    for meta in ("protocol", "fold", "corpus", "system", "test-set"):
        p.add_argument(f"--{meta}", help=f"recorded in meta.json ({meta})")
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s")
    exp, out = Path(args.exp_dir), Path(args.out)
    ckpt = exp / ("best.pt" if args.checkpoint == "best" else "checkpoint.pt")
    if not ckpt.is_file():
        raise SystemExit(f"infer: {ckpt} not found: train first (stage 3)")
    conf = load_config(exp / "config.yaml")
    labels = read_list(exp / "classes")
    device = pick_device(args.device)
    dumps, (data,) = open_datasets(conf, args.dumpdir, labels, [args.data_dir], require_labels=False)
    model = build_model(conf["model"], len(labels), {k: d.stream_info for k, d in dumps.items()})
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    model.to(device)
    p = predict(model, data, device, args.batch_size, amp_dtype(conf["train"]["amp"], device))
    model_conf = conf["model"]
    modalities = "+".join(s for s in ("audio", "text") if s in model_streams(model_conf))
    write_decode_dir(out, p["utts"], labels, p["posteriors"].numpy(), p["embeddings"].numpy(), refs=data.data.utt2emo, meta={
        "protocol": args.protocol, "config": exp.parent.name if exp.name.startswith("fold") else exp.name,
        "fold": int(args.fold) if args.fold else None, "test_set": args.test_set or Path(args.data_dir).name,
        "corpus": args.corpus, "system": args.system or model_conf["name"],
        "aggregation": model_conf.get("aggregation"), "variant": model_conf.get("variant", "default"),
        "modalities": modalities, "checkpoint": str(ckpt), "checkpoint_epoch": state.get("epoch")})
    logging.info("wrote %d predictions to %s", len(p["utts"]), out)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"infer: error: {e}")
