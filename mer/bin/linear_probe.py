"""Linear-probe baseline: logistic regression on pooled frames of one layer of a dump, per fold.

Usage:
  python -m mer.bin.linear_probe --dump dump/whisper --layer 2 --protocol-dir data/loso \
      --out exp/loso/probe_whisper_l2 [--pool mean+std] [--test-sets test] [--corpus emodb]

For every data/<protocol>/fold<k>: pool each utterance's frames of the chosen layer (mean, or
mean and standard deviation side by side), standardise, fit a logistic regression on train+valid
and write exp/<protocol>/<name>/fold<k>/decode_<set>/ exactly as `mer.bin.infer` does (utt2pred,
classes, posteriors, embeddings = the pooled vectors, utt2emo, meta.json), so scoring, fold
aggregation, RESULTS.md and plots treat the probe like any trained model.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from mer.data.datadir import DataDir
from mer.data.kaldi_io import read_list
from mer.scoring.decode_dir import write_decode_dir
from mer.train.data import FeatureDump

log = logging.getLogger("linear_probe")


def pooled(dump: FeatureDump, utts: list[str], layer: int | None, how: str) -> np.ndarray:
    info = dump.stream_info
    rows = []
    for u in utts:
        x = dump[u]
        if info.num_layers > 1:
            index = info.num_layers - 1 if layer is None else layer
            if not 0 <= index < info.num_layers:
                raise ValueError(f"--layer {layer}: {dump.path} stores {info.num_layers} layers (0..{info.num_layers - 1})")
            x = x[:, index * info.dim:(index + 1) * info.dim]
        parts = [x.mean(axis=0)] + ([x.std(axis=0)] if how == "mean+std" else [])
        rows.append(np.concatenate(parts))
    return np.stack(rows)


def run_fold(dump, fold_dir: Path, out: Path, labels: list[str], args) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train = DataDir.load(fold_dir / "train")
    valid = DataDir.load(fold_dir / "valid")
    utts = train.utts + valid.utts
    y = [labels.index({**train.utt2emo, **valid.utt2emo}[u]) for u in utts]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=args.C, max_iter=3000))
    clf.fit(pooled(dump, utts, args.layer, args.pool), y)
    for test_set in args.test_sets:
        test = DataDir.load(fold_dir / test_set)
        feats = pooled(dump, test.utts, args.layer, args.pool)
        post = np.zeros((len(test.utts), len(labels)), dtype=np.float32)
        post[:, clf.classes_] = clf.predict_proba(feats)
        write_decode_dir(out / fold_dir.name / f"decode_{test_set}", test.utts, labels, post, feats,
                         refs=test.utt2emo, meta={
                             "protocol": fold_dir.parent.name, "config": out.name, "fold": int(fold_dir.name[4:]),
                             "test_set": test_set, "corpus": args.corpus, "system": "linear_probe",
                             "aggregation": args.pool, "modalities": args.modality, "dump": str(dump.path),
                             "layer": args.layer})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dump", required=True, help="a dump dir (feats.scp, feats_info.json)")
    p.add_argument("--layer", type=int, help="hidden-state index in a multi-layer dump (default: the last)")
    p.add_argument("--protocol-dir", required=True, help="data/<protocol> holding fold<k>/")
    p.add_argument("--out", required=True, help="exp/<protocol>/<probe name>")
    p.add_argument("--pool", default="mean+std", choices=["mean", "mean+std"])
    p.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    p.add_argument("--test-sets", nargs="+", default=["test"])
    p.add_argument("--labels", help="label file (default: <protocol-dir>/fold1/train/labels or the training labels)")
    p.add_argument("--corpus")
    p.add_argument("--modality", choices=["audio", "text"], help="default: text for token-level dumps, else audio")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s")
    dump = FeatureDump(args.dump)
    if args.modality is None:
        args.modality = "text" if dump.info.get("unit") == "token" or dump.info.get("feature") == "hf-text" else "audio"
    folds = sorted(Path(args.protocol_dir).glob("fold*"), key=lambda f: int(f.name[4:]))
    if not folds:
        raise SystemExit(f"linear_probe: no fold*/ in {args.protocol_dir}")
    label_file = Path(args.labels) if args.labels else folds[0] / "train" / "labels"
    labels = read_list(label_file) if label_file.is_file() else sorted(set(DataDir.load(folds[0] / "train").utt2emo.values()))
    out = Path(args.out)
    for fold in folds:
        if all((out / fold.name / f"decode_{s}" / "meta.json").is_file() for s in args.test_sets):
            continue
        run_fold(dump, fold, out, labels, args)
        log.info("%s %s done", out.name, fold.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
