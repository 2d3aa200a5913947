"""The project's one metric vocabulary: a registry of scalar metrics, one module each, and `score`.

A metric is a function of the predictions of one test set (`Predictions`: references, predicted
labels, the class list, the confusion matrix) registered with `@register_metric(...)` in a module of
this package; the package is scanned, so a new metric is one new file here (plus its test). Its entry
says how it reads: its column label, whether higher is better, whether it may select checkpoints and
thresholds (`train.best_metric`, a combiner's `select_metric`), and whether RESULTS.md shows it by
default (`column`: its position; other metrics are shown where a published number names them).
Everything that lists metrics (the config schema, the trainer's validation, fold aggregation,
RESULTS.md, packed models' READMEs, system C's threshold selection) reads this registry.

`score` returns every registered metric plus the structured results:
  per_class          label -> {precision, recall, f1, support}
  confusion          {labels, matrix}; rows = reference, columns = prediction
  auc                label -> one-vs-rest ROC AUC from the posteriors, or None where undefined;
                     auc_notes gives the reason for each None
  num_utts
All values are fractions in [0, 1]; reports multiply by 100. Divisions by zero give 0.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Sequence

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score

from mer.registry import RegistryError, new_registry


@dataclass(frozen=True)
class Predictions:
    """One test set's labels, aligned: what every metric function reads."""
    refs: tuple[str, ...]
    preds: tuple[str, ...]
    labels: tuple[str, ...]

    @cached_property
    def confusion(self) -> np.ndarray:
        """(C, C) counts, rows = reference, columns = prediction, in `labels` order."""
        return confusion_matrix(list(self.refs), list(self.preds), labels=list(self.labels)).astype(np.int64)

    @cached_property
    def one_vs_rest(self) -> dict[str, np.ndarray]:
        """Per class, its binary counts against all others: tp, fp, fn, tn, and p (= tp + fn), n (= fp + tn)."""
        cm = self.confusion
        total = cm.sum()
        tp = np.diag(cm)
        fp = cm.sum(axis=0) - tp
        fn = cm.sum(axis=1) - tp
        tn = total - tp - fp - fn
        return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "p": tp + fn, "n": fp + tn}

    @cached_property
    def in_refs(self) -> list[str]:
        """The classes with at least one reference utterance, in `labels` order."""
        present = set(self.refs)
        return [lab for lab in self.labels if lab in present]

    @cached_property
    def seen(self) -> list[str]:
        """The classes that occur in the references or the predictions, in `labels` order."""
        present = set(self.refs) | set(self.preds)
        return [lab for lab in self.labels if lab in present]


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[Predictions], float]
    label: str                   # the column header in RESULTS.md and reports
    description: str             # one line: the definition
    higher_is_better: bool = True
    selectable: bool = True      # may choose checkpoints (train.best_metric) and thresholds
    column: int | None = None    # position among RESULTS.md's default columns; None: shown on demand

    def __call__(self, p: Predictions) -> float:
        return float(self.fn(p))


def _check(name: str, entry) -> None:
    if not isinstance(entry, Metric):
        raise RegistryError(f"metric '{name}': register a function with @register_metric, got {entry!r}")


METRICS = new_registry("metric", package="mer.metrics", check=_check)


def register_metric(name: str, *, label: str, higher_is_better: bool = True, selectable: bool = True,
                    column: int | None = None):
    """Function decorator: `fn(Predictions) -> float` becomes the metric `name`; its docstring's first
    line is its one-line definition."""
    def add(fn: Callable[[Predictions], float]):
        doc = (fn.__doc__ or "").strip().split("\n", 1)[0].strip()
        METRICS.register(name, Metric(name, fn, label, doc, higher_is_better, selectable, column))
        return fn
    return add


def scalar_metrics() -> tuple[str, ...]:
    """Every registered metric's name: the default columns first (in their order), then the others by name."""
    return tuple(sorted(METRICS, key=lambda n: (METRICS[n].column is None, METRICS[n].column or 0, n)))


def default_columns() -> tuple[str, ...]:
    return tuple(n for n in scalar_metrics() if METRICS[n].column is not None)


def selectable_metrics() -> tuple[str, ...]:
    return tuple(n for n in scalar_metrics() if METRICS[n].selectable)


def get_metric(name: str, what: str = "metric") -> Metric:
    return METRICS.get_entry(name, what)


def _check_labels(kind: str, values: Sequence[str], labels: Sequence[str]) -> None:
    unknown = Counter(v for v in values if v not in set(labels))
    if unknown:
        shown = ", ".join(f"'{k}' ({n}x)" for k, n in sorted(unknown.items()))
        raise ValueError(f"{kind} label(s) not in classes ({' '.join(labels)}): {shown}")


def _auc(refs: Sequence[str], posteriors: np.ndarray | None, labels: Sequence[str]) -> tuple[dict, dict]:
    if posteriors is None:
        return {lab: None for lab in labels}, {lab: "no posteriors saved" for lab in labels}
    auc, notes = {}, {}
    y = np.asarray(refs)
    for i, lab in enumerate(labels):
        positives = int(np.sum(y == lab))
        if positives == 0:
            auc[lab], notes[lab] = None, "no reference utterance of this class: one-vs-rest AUC undefined"
        elif positives == len(y):
            auc[lab], notes[lab] = None, "every reference utterance is this class: no negatives, AUC undefined"
        else:
            auc[lab] = float(roc_auc_score(y == lab, posteriors[:, i]))
    return auc, notes


def score(refs: Sequence[str], preds: Sequence[str], posteriors: np.ndarray | None = None, *,
          labels: Sequence[str], metrics: Sequence[str] | None = None) -> dict:
    """Score aligned reference/predicted labels; `posteriors` is (N, len(labels)) in `labels` order.
    `metrics`: only these scalar metrics and no structured results (the trainer's validation)."""
    refs, preds, labels = list(refs), list(preds), list(labels)
    if len(refs) != len(preds):
        raise ValueError(f"{len(refs)} references but {len(preds)} predictions")
    if not refs:
        raise ValueError("nothing to score: no utterances")
    if len(set(labels)) != len(labels):
        raise ValueError(f"duplicate labels in classes: {labels}")
    _check_labels("reference", refs, labels)
    _check_labels("predicted", preds, labels)
    p = Predictions(tuple(refs), tuple(preds), tuple(labels))
    if metrics is not None:
        return {name: get_metric(name)(p) for name in metrics}
    if posteriors is not None:
        posteriors = np.asarray(posteriors, dtype=np.float64)
        if posteriors.shape != (len(refs), len(labels)):
            raise ValueError(f"posteriors have shape {posteriors.shape}, expected ({len(refs)}, {len(labels)})")
        if not np.all(np.isfinite(posteriors)):
            raise ValueError("posteriors contain NaN or inf")
    prec, rec, f1, support = precision_recall_fscore_support(refs, preds, labels=labels, average=None,
                                                             zero_division=0)
    auc, auc_notes = _auc(refs, posteriors, labels)
    return {
        "num_utts": len(refs),
        **{name: METRICS[name](p) for name in scalar_metrics()},
        "per_class": {lab: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]),
                            "support": int(support[i])} for i, lab in enumerate(labels)},
        "confusion": {"labels": labels, "matrix": p.confusion.astype(int).tolist()},
        "auc": auc,
        "auc_notes": auc_notes,
    }
