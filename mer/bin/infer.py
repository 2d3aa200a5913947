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
from pathlib import Path

from mer.inputs import EmotionDataset
from mer.scoring.decode_dir import write_decode_dir
from mer.trained_model import load_trained_model
from mer.utils.cli import run_main
from mer.utils.device import pick_device


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp-dir", required=True, help="a fold dir (or a pack, run on the dumps of --dumpdir)")
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
    out = Path(args.out)
    bad = [o for o in args.override if not o.startswith("inputs.")]
    if bad:
        raise ValueError(f"--override {bad[0]}: inference may only replace inputs (inputs.NAME=...)")
    trained = load_trained_model(args.exp_dir, checkpoint=args.checkpoint, overrides=args.override,
                                 dumpdir=args.dumpdir, from_dumps=True)
    conf, label_map = trained.conf, trained.label_map
    device = pick_device(args.device)
    data = EmotionDataset(args.data_dir, label_map, trained.sources, unit=conf["train"]["unit"], training=False)
    trained.model.to(device)
    p = trained.predict(data, device, args.batch_size)
    exp, system = Path(args.exp_dir), trained.decode_meta()
    refs = {u: label_map.mapped(lab) for u, lab in data.data.utt2emo.items()}
    write_decode_dir(out, p["utts"], label_map.classes, p["posteriors"].numpy(),
                     None if p["embeddings"] is None else p["embeddings"].numpy(), refs=refs,
                     extras={k: v.numpy() for k, v in p["extras"].items()}, meta={
        "protocol": args.protocol, "config": exp.parent.name if exp.name.startswith("fold") else exp.name,
        "fold": int(args.fold) if args.fold else None, "test_set": args.test_set or Path(args.data_dir).name,
        "corpus": args.corpus, "system": args.system or system["system"], "aggregation": system["aggregation"],
        "modalities": system["modalities"],
        "inputs": {k: s.describe() for k, s in trained.sources.items()}, "input_overrides": args.override,
        "label_map": label_map.map or None, "model": system["model"],
        "checkpoint": trained.checkpoint, "checkpoint_epoch": trained.epoch,
        "fit_on": conf["train"]["fit_on"]})  # RESULTS.md marks a set the model learnt from
    logging.info("wrote %d predictions to %s", len(p["utts"]), out)
    return 0


if __name__ == "__main__":
    run_main(main, "infer", (ValueError, OSError))
