"""Run a trained model on a data dir and save everything later stages need.

Usage:
  python -m mer.bin.infer --exp-dir exp/loso/train_memocmt_min/fold1 --data-dir data/loso/fold1/test \
      --dumpdir dump --out exp/loso/train_memocmt_min/fold1/decode_test \
      [--checkpoint best|last] [--protocol loso --fold 1 --corpus iemocap --system memocmt] \
      [--override 'inputs.text={type: text, dump: asr_whisper}']

`--override` replaces an input of the trained config (a model trained on reference transcripts,
tested on ASR hypotheses); meta.json records the inputs used and the overrides.

Writes to OUT: utt2pred (utterance, predicted label), classes (posterior order), posteriors.{ark,scp},
embeddings.{ark,scp} when the model gives them (for t-SNE), one `<name>.{ark,scp}` per extra output
of the model, utt2emo (the reference after the config's label map, when the data dir has labels)
and meta.json, last. Scoring and plots read only these files.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from mer.data.kaldi_io import read_list
from mer.models import build_model, model_input_names
from mer.scoring.decode_dir import write_decode_dir
from mer.train.checkpoint import load_checkpoint
from mer.train.config import apply_overrides, load_config
from mer.train.data import open_datasets
from mer.train.labels import LabelMap
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
    p.add_argument("--override", action="append", default=[], metavar="inputs.NAME=VALUE",
                   help="replace an input of the trained config, e.g. 'inputs.text={type: text, dump: asr}'")
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
    bad = [o for o in args.override if not o.startswith("inputs.")]
    if bad:
        raise ValueError(f"--override {bad[0]}: inference may only replace inputs (inputs.NAME=...)")
    apply_overrides(conf, args.override)
    label_map = LabelMap({"map": conf["labels"].get("map"), "classes": read_list(exp / "classes")}, [])
    labels = label_map.classes
    device = pick_device(args.device)
    inputs, (data,) = open_datasets(conf, args.dumpdir, label_map, [args.data_dir], training=False)
    model = build_model(conf["model"], len(labels), {k: s.info for k, s in inputs.items()})
    state = load_checkpoint(ckpt)  # weights_only: refused, named, if it holds more than tensors and plain values
    model.load_state_dict(state["model"])
    model.to(device)
    p = predict(model, data, device, args.batch_size, amp_dtype(conf["train"]["amp"], device))
    model_conf, description = conf["model"], model.describe()
    refs = {u: label_map.mapped(lab) for u, lab in data.data.utt2emo.items()}
    write_decode_dir(out, p["utts"], labels, p["posteriors"].numpy(),
                     None if p["embeddings"] is None else p["embeddings"].numpy(), refs=refs,
                     extras={k: v.numpy() for k, v in p["extras"].items()}, meta={
        "protocol": args.protocol, "config": exp.parent.name if exp.name.startswith("fold") else exp.name,
        "fold": int(args.fold) if args.fold else None, "test_set": args.test_set or Path(args.data_dir).name,
        "corpus": args.corpus, "system": args.system or model_conf["name"],
        "aggregation": description.get("aggregation"),  # how a system pools over time, where it says
        "modalities": "+".join(model_input_names(model_conf)),
        "inputs": {k: s.describe() for k, s in inputs.items()}, "input_overrides": args.override,
        "label_map": label_map.map or None, "model": description,
        "checkpoint": str(ckpt), "checkpoint_epoch": state.get("epoch")})
    logging.info("wrote %d predictions to %s", len(p["utts"]), out)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, OSError) as e:  # bad data, config, checkpoint or output dir: a message
        sys.exit(f"infer: error: {e}")
