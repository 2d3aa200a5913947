"""The project's one metric vocabulary (SPEC "Metrics: one vocabulary").

  wa                 overall accuracy (correct / total)
  ua                 unweighted average recall: mean recall over the classes present in the
                     references (= sklearn balanced accuracy; a class with no reference utterance
                     has no recall, so it is left out rather than counted as 0)
  macro_f1           unweighted mean F1 over the classes that occur in references or predictions
                     (sklearn's default label set; a class absent from both would only add a 0)
  weighted_f1, weighted_precision, weighted_recall
                     per-class values weighted by reference support (weighted_recall equals wa)
  per_class          label -> {precision, recall, f1, support}
  confusion          {labels, matrix}; rows = reference, columns = prediction
  auc                label -> one-vs-rest ROC AUC from the posteriors, or None where undefined;
                     auc_notes gives the reason for each None
  num_utts

All values are fractions in [0, 1]; reports multiply by 100. Divisions by zero give 0.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support,
                             recall_score, roc_auc_score)

SCALAR_METRICS = ("wa", "ua", "macro_f1", "weighted_f1", "weighted_precision", "weighted_recall")


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
          labels: Sequence[str]) -> dict:
    """Score aligned reference/predicted labels; `posteriors` is (N, len(labels)) in `labels` order."""
    refs, preds, labels = list(refs), list(preds), list(labels)
    if len(refs) != len(preds):
        raise ValueError(f"{len(refs)} references but {len(preds)} predictions")
    if not refs:
        raise ValueError("nothing to score: no utterances")
    if len(set(labels)) != len(labels):
        raise ValueError(f"duplicate labels in classes: {labels}")
    _check_labels("reference", refs, labels)
    _check_labels("predicted", preds, labels)
    if posteriors is not None:
        posteriors = np.asarray(posteriors, dtype=np.float64)
        if posteriors.shape != (len(refs), len(labels)):
            raise ValueError(f"posteriors have shape {posteriors.shape}, expected ({len(refs)}, {len(labels)})")
        if not np.all(np.isfinite(posteriors)):
            raise ValueError("posteriors contain NaN or inf")

    in_refs = [lab for lab in labels if lab in set(refs)]
    seen = [lab for lab in labels if lab in set(refs) | set(preds)]
    prec, rec, f1, support = precision_recall_fscore_support(refs, preds, labels=labels, average=None,
                                                             zero_division=0)
    w_prec, w_rec, w_f1, _ = precision_recall_fscore_support(refs, preds, labels=labels, average="weighted",
                                                             zero_division=0)
    auc, auc_notes = _auc(refs, posteriors, labels)
    return {
        "num_utts": len(refs),
        "wa": float(accuracy_score(refs, preds)),
        "ua": float(recall_score(refs, preds, labels=in_refs, average="macro", zero_division=0)),
        "macro_f1": float(f1_score(refs, preds, labels=seen, average="macro", zero_division=0)),
        "weighted_f1": float(w_f1),
        "weighted_precision": float(w_prec),
        "weighted_recall": float(w_rec),
        "per_class": {lab: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]),
                            "support": int(support[i])} for i, lab in enumerate(labels)},
        "confusion": {"labels": labels,
                      "matrix": confusion_matrix(refs, preds, labels=labels).astype(int).tolist()},
        "auc": auc,
        "auc_notes": auc_notes,
    }
