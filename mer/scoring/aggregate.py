"""Aggregate the folds of one configuration: mean, sample std and pooled scores.

Reads EXP_CONFIG_DIR/fold*/decode_<set>/scores.json (written by mer.bin.score) for the per-fold
numbers, and the folds' decode outputs for the pooled score (all folds' predictions scored as one
set, which weights folds by their size and gives one confusion matrix and one AUC per class).
"""
from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import numpy as np

from mer.scoring.decode_dir import ScoringError, load_decode_dir, pool_outputs
from mer.metrics import scalar_metrics, score

AGG_META = ("protocol", "config", "corpus", "system", "aggregation", "modalities")
_FOLD_RE = re.compile(r"^fold(\d+)$")


def fold_dirs(exp_config_dir: str | os.PathLike) -> dict[str, Path]:
    """fold<k> subdirectories in numeric order (fold10 after fold9)."""
    d = Path(exp_config_dir)
    found = [(int(m.group(1)), p) for p in d.iterdir() if p.is_dir() and (m := _FOLD_RE.match(p.name))]
    return {p.name: p for _, p in sorted(found)}


def scored_folds(exp_config_dir: str | os.PathLike, test_set: str) -> dict[str, Path]:
    """fold name -> decode dir, for folds whose decode_<set> has a scores.json."""
    return {name: p / f"decode_{test_set}" for name, p in fold_dirs(exp_config_dir).items()
            if (p / f"decode_{test_set}" / "scores.json").is_file()}


def fold_mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof 1; None for one value) of per-fold scores."""
    mean = float(np.mean(values))
    return mean, (float(np.std(values, ddof=1)) if len(values) > 1 else None)


def _common_meta(exp_config_dir: Path, per_fold: dict[str, dict]) -> dict:
    """Meta fields shared by all folds; a field that differs between folds is an error (mixing,
    say, two aggregations into one row would be meaningless). protocol/config default to the path."""
    meta = {"protocol": exp_config_dir.resolve().parent.name, "config": exp_config_dir.resolve().name}
    for key in AGG_META:
        values = {name: s.get(key) for name, s in per_fold.items() if s.get(key) is not None}
        distinct = set(map(json.dumps, values.values()))
        if len(distinct) > 1:
            shown = ", ".join(f"{n}={v}" for n, v in values.items())
            raise ScoringError(f"{exp_config_dir}: folds disagree on '{key}': {shown}")
        if values:
            meta[key] = next(iter(values.values()))
        else:
            meta.setdefault(key, None)
    return meta


def aggregate(exp_config_dir: str | os.PathLike, test_set: str = "test",
              expected_folds: int | None = None) -> dict:
    d = Path(exp_config_dir)
    if not d.is_dir():
        raise ScoringError(f"{d}: not a directory")
    decode = scored_folds(d, test_set)
    if not decode:
        raise ScoringError(f"{d}: no fold*/decode_{test_set}/scores.json (run mer.bin.score first)")
    expected = ([f"fold{k}" for k in range(1, expected_folds + 1)] if expected_folds
                else list(fold_dirs(d)))
    missing = [name for name in expected if name not in decode]
    extra = [name for name in decode if name not in expected]
    if extra:
        raise ScoringError(f"{d}: scored fold(s) {', '.join(extra)} beyond --expected-folds {expected_folds}")

    metrics = scalar_metrics()
    per_fold: dict[str, dict] = {}
    for name, dd in decode.items():
        try:
            per_fold[name] = json.loads((dd / "scores.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ScoringError(f"{dd / 'scores.json'}: not valid JSON: {e}") from e
        absent = [k for k in metrics + ("num_utts",) if k not in per_fold[name]]
        if absent:  # scored before a metric was registered, or not by mer.bin.score
            raise ScoringError(f"{dd / 'scores.json'}: missing {', '.join(absent)}; "
                               f"rerun python -m mer.bin.score {dd}")

    # Pool from the decode outputs themselves; a scores.json that no longer matches them is stale.
    parts = {}
    for name, dd in decode.items():
        ref = per_fold[name].get("ref")
        out = load_decode_dir(dd, ref=ref if ref and Path(ref).is_file() else None)
        fold_wa = float(np.mean(np.asarray(out.refs) == np.asarray(out.preds)))
        if len(out.utts) != per_fold[name]["num_utts"] or not math.isclose(fold_wa, per_fold[name]["wa"],
                                                                           abs_tol=1e-9):
            raise ScoringError(f"{dd / 'scores.json'}: stale (does not match utt2pred/reference any more); "
                               f"rerun python -m mer.bin.score {dd}")
        parts[name] = out
    pooled = pool_outputs(parts, path=str(d))
    pooled_scores = score(pooled.refs, pooled.preds, pooled.posteriors, labels=pooled.classes)

    folds = {name: {k: s[k] for k in metrics + ("num_utts",)} for name, s in per_fold.items()}
    mean, std = {}, {}
    for k in metrics:
        mean[k], std[k] = fold_mean_std([folds[name][k] for name in folds])
    return {
        **_common_meta(d, per_fold),
        "test_set": test_set,
        "num_folds": len(folds),
        "expected_folds": len(expected),
        "complete": not missing,
        "missing_folds": missing,
        "folds": folds,
        "mean": mean,
        "std": std,
        "std_ddof": 1,
        "pooled": pooled_scores,
    }
