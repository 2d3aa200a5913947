"""One result over several seeds of a system: mean ± std over every (fold, seed) pair.

The members are one system's runs with different seeds (`emo.sh --seeds "1 2 3"`:
exp/<protocol>/train_x_train.seed1, ..., or a combiner run per seed, select_all_seed1, ...), each
aggregated over its folds first (mer.scoring.aggregate). The result has the shape of a fold
aggregate, so RESULTS.md shows it as one more row: `folds` maps `<member>/<fold>` to that run's
fold scores, mean and std (ddof 1) are over all of them, and `pooled` scores every member's
predictions as one set (each utterance once per seed). `seeds` names the members.
"""
from __future__ import annotations

import os
from pathlib import Path

from mer.metrics import scalar_metrics, score
from mer.scoring.aggregate import AGG_META, aggregate, fold_mean_std, scored_folds
from mer.scoring.decode_dir import ScoringError, load_decode_dir, pool_outputs
from mer.scoring.protocol_notes import fitted_on, transductive

# Meta fields the members may differ in (each is its own run).
PER_MEMBER = ("config",)


def aggregate_seeds(out_dir: str | os.PathLike, members: list[str | os.PathLike], test_set: str = "test",
                    expected_folds: int | None = None) -> dict:
    if len(members) < 2:
        raise ScoringError(f"{out_dir}: aggregating over seeds needs two or more runs, got {len(members)}")
    runs = {Path(m).name: aggregate(m, test_set, expected_folds) for m in members}
    meta = {}
    for key in (k for k in AGG_META if k not in PER_MEMBER):
        values = {name: r.get(key) for name, r in runs.items()}
        if len(set(map(str, values.values()))) > 1:
            shown = ", ".join(f"{n}={v}" for n, v in values.items())
            raise ScoringError(f"{out_dir}: the seeds' runs disagree on '{key}': {shown}")
        meta[key] = next(iter(values.values()))
    folds = {f"{name}/{fold}": s for name, r in runs.items() for fold, s in r["folds"].items()}
    mean, std = {}, {}
    for k in scalar_metrics():
        mean[k], std[k] = fold_mean_std([s[k] for s in folds.values()])
    parts = {f"{Path(m).name}/{fold}": load_decode_dir(dd) for m in members
             for fold, dd in scored_folds(m, test_set).items()}
    pooled = pool_outputs(parts, path=str(out_dir))
    return {
        **meta,
        "config": Path(out_dir).name,
        "test_set": test_set,
        "seeds": list(runs),
        "transductive": any(transductive(m) for m in members),
        "fitted_on": any(fitted_on(m, test_set) for m in members),
        "num_folds": max(r["num_folds"] for r in runs.values()),
        "expected_folds": max(r["expected_folds"] for r in runs.values()),
        "complete": all(r["complete"] for r in runs.values()),
        "missing_folds": sorted({f"{n}/{f}" for n, r in runs.items() for f in r["missing_folds"]}),
        "folds": folds,
        "mean": mean,
        "std": std,
        "std_ddof": 1,
        "pooled": score(pooled.refs, pooled.preds, pooled.posteriors, labels=pooled.classes),
    }
