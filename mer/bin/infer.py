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
import os
import sys
from pathlib import Path

import torch

from mer.bin.train import open_dumps
from mer.data.kaldi_io import read_list, write_kv
from mer.models import build_model, model_streams
from mer.train.config import load_config
from mer.train.data import EmotionDataset
from mer.train.trainer import amp_dtype, predict
from mer.utils.fileio import write_json_atomic, write_text_atomic


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


def write_vectors(path_stem: Path, utts: list[str], mats: torch.Tensor) -> None:
    import kaldiio

    scp_tmp = path_stem.with_suffix(".scp.tmp")
    with kaldiio.WriteHelper(f"ark,scp:{path_stem.with_suffix('.ark').resolve()},{scp_tmp}") as w:
        for utt, vec in zip(utts, mats.numpy()):
            w(utt, vec.astype("float32"))
    os.replace(scp_tmp, path_stem.with_suffix(".scp"))


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s")
    exp, out = Path(args.exp_dir), Path(args.out)
    ckpt = exp / ("best.pt" if args.checkpoint == "best" else "checkpoint.pt")
    if not ckpt.is_file():
        raise SystemExit(f"infer: {ckpt} not found: train first (stage 3)")
    conf = load_config(exp / "config.yaml")
    labels = read_list(exp / "classes")
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    dumps = open_dumps(conf, args.dumpdir)
    need_text = "text" in model_streams(conf["model"]) and "text" not in dumps
    data = EmotionDataset(args.data_dir, labels, dumps, need_raw_text=need_text, require_labels=False)
    model = build_model(conf["model"], len(labels), {k: d.stream_info for k, d in dumps.items()})
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    model.to(device)
    p = predict(model, data, device, args.batch_size, amp_dtype(conf["train"]["amp"], device))
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "classes", "".join(f"{lab}\n" for lab in labels))
    write_vectors(out / "posteriors", p["utts"], p["posteriors"])
    write_vectors(out / "embeddings", p["utts"], p["embeddings"])
    write_kv(out / "utt2pred", {u: labels[i] for u, i in zip(p["utts"], p["logits"].argmax(-1).tolist())})
    if data.data.utt2emo:
        write_kv(out / "utt2emo", {u: data.data.utt2emo[u] for u in p["utts"]})
    model_conf = conf["model"]
    modalities = "+".join(s for s in ("audio", "text") if s in model_streams(model_conf))
    write_json_atomic(out / "meta.json", {
        "protocol": args.protocol, "config": exp.parent.name if exp.name.startswith("fold") else exp.name,
        "fold": int(args.fold) if args.fold else None, "test_set": args.test_set or Path(args.data_dir).name,
        "corpus": args.corpus, "system": args.system or model_conf["name"],
        "aggregation": model_conf.get("aggregation"), "variant": model_conf.get("variant", "default"),
        "modalities": modalities, "checkpoint": str(ckpt), "checkpoint_epoch": state.get("epoch"),
        "num_utts": len(p["utts"])})
    logging.info("wrote %d predictions to %s", len(p["utts"]), out)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"infer: error: {e}")
