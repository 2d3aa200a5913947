"""The epochs of a final model: the median, over a config's folds, of the epoch each fold kept.

Usage: python -m mer.bin.final_epochs EXP_CONFIG_DIR     (exp/<protocol>/<config tag>)
Prints one integer on stdout, and on stderr which epoch each fold kept. A fold's kept epoch is its
best checkpoint's (train_summary.json "best"), or its last one when nothing was chosen on validation
(best_metric last, fit_on train+valid). The folds chose their epochs on their own validation
speakers, never on a test fold, so a model trained once on every speaker for that many epochs (stage 7,
--final true) has its length chosen without its test data.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


def kept_epoch(summary: dict) -> int:
    best = summary.get("best") or {}
    return int(best["epoch"]) if best.get("metric") not in (None, "last") else int(summary["epochs_run"])


def final_epochs(config_dir: str | Path) -> tuple[int, dict[str, int]]:
    """(median kept epoch, fold -> kept epoch); ValueError when no fold finished training."""
    config_dir = Path(config_dir)
    kept = {}
    for summary in sorted(config_dir.glob("fold*/train_summary.json")):
        kept[summary.parent.name] = kept_epoch(json.loads(summary.read_text()))
    if not kept:
        raise ValueError(f"{config_dir}: no fold has finished training (no fold*/train_summary.json): "
                         f"run stage 3 first")
    return max(1, round(statistics.median(kept.values()))), kept


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config_dir")
    args = p.parse_args(argv)
    try:
        epochs, kept = final_epochs(args.config_dir)
    except ValueError as e:
        print(f"final_epochs: error: {e}", file=sys.stderr)
        return 1
    print(f"final_epochs: {args.config_dir}: epochs kept per fold "
          f"{', '.join(f'{k} {v}' for k, v in kept.items())}: median {epochs}", file=sys.stderr)
    print(epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
