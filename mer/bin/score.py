"""Score one decode directory.

Usage:
  python -m mer.bin.score DECODE_DIR [--ref DATA_DIR/utt2emo]

Reads DECODE_DIR/{utt2pred,classes,posteriors.scp,meta.json} and the reference labels
(DECODE_DIR/utt2emo unless --ref is given) and writes DECODE_DIR/scores.json: the meta fields
(protocol, config, fold, test_set, corpus, system, aggregation, modalities) and the metrics of
mer.metrics (every registered metric: python -m mer.bin.list metric; per_class, confusion, auc), as
fractions.

Fails, naming the file and utterances, when utt2pred, the reference and the posteriors do not
cover the same utterances, or when a label is not listed in `classes`.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mer.scoring.decode_dir import META_FIELDS, ScoringError, load_decode_dir
from mer.metrics import METRICS, default_columns, score
from mer.utils.fileio import write_json_atomic


def score_decode_dir(decode_dir: str | os.PathLike, ref: str | os.PathLike | None = None) -> dict:
    """Metrics of one decode dir, with its meta fields in front."""
    out = load_decode_dir(decode_dir, ref=ref)
    try:
        metrics = score(out.refs, out.preds, out.posteriors, labels=out.classes)
    except ValueError as e:  # load_decode_dir checked labels/shapes; keep the dir in any message
        raise ScoringError(f"{decode_dir}: {e}") from e
    result = {k: out.meta.get(k) for k in META_FIELDS}
    result["ref"] = str(Path(out.ref_path).resolve())
    result.update(metrics)
    if out.out_of_set:
        result["num_out_of_set"] = len(out.out_of_set)  # decoded, reference outside the classes: not scored
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mer.bin.score", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("decode_dir", nargs="+",
                        help="exp/<protocol>/<config>/fold<k>/decode_<set> (several: one process scores all)")
    parser.add_argument("--ref", default=None, help="reference utt2emo (default: DECODE_DIR/utt2emo; "
                                                    "only with one DECODE_DIR)")
    args = parser.parse_args(argv)
    if args.ref and len(args.decode_dir) > 1:
        parser.error("--ref goes with a single DECODE_DIR")
    failed = 0
    for decode_dir in args.decode_dir:
        try:
            result = score_decode_dir(decode_dir, args.ref)
        except ScoringError as e:  # the others are still scored
            print(f"mer.bin.score: error: {e}", file=sys.stderr)
            failed += 1
            continue
        path = Path(decode_dir) / "scores.json"
        write_json_atomic(path, result)
        shown = "  ".join(f"{METRICS[k].label} {100 * result[k]:.2f}" for k in default_columns())
        skipped = result.get("num_out_of_set")  # a subset model's other classes, or labels it never knew
        print(f"{path}: {result['num_utts']} utts  {shown}"
              + (f"  ({skipped} more decoded, not scored: reference outside classes)" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
