"""System C's routing rules (Algorithm 1), apart from the combiner that runs them and the reports that
show them: the candidate thresholds, the routed decision and the statistics of one sweep point.
"""
from __future__ import annotations

import numpy as np

DEFAULT_THRESHOLDS = (0.25, 0.30, 0.35, 0.40)
PR_GRID = tuple(round(0.05 * i, 2) for i in range(21))  # thresholds of the precision-recall curve
SPEECH_ONLY = "speech-only"
ARGMAX = "argmax"


def threshold_key(t: float | None) -> str:
    return ARGMAX if t is None else f"{float(t):.2f}"


def decide(gate: list[str], emotion: list[str], text: list[str] | None, p_text_neutral: np.ndarray | None,
           neutral: str, t: float | None) -> tuple[list[str], np.ndarray]:
    """Final labels and whether each utterance went to the text model (Algorithm 1)."""
    to_text = np.array([g == neutral for g in gate], dtype=bool)
    if text is None:
        return [neutral if r else e for r, e in zip(to_text, emotion)], to_text
    if t is None:
        keep = np.zeros(len(gate), dtype=bool)
    else:
        keep = np.asarray(p_text_neutral, dtype=np.float32) >= np.float32(t)
    final = [(neutral if k else x) if r else e for r, k, x, e in zip(to_text, keep, text, emotion)]
    return final, to_text


def sweep_stats(refs: list[str], final: list[str], to_text: np.ndarray, classes: list[str], neutral: str) -> dict:
    """Scores over utterances whose reference is one of `classes`, and the text stage's effect."""
    from mer.metrics import scalar_metrics, score

    rows = [i for i, r in enumerate(refs) if r in classes]
    if not rows:
        raise ValueError(f"no reference label is one of {' '.join(classes)}")
    r = [refs[i] for i in rows]
    f = [final[i] for i in rows]
    m = score(r, f, labels=classes)
    per = m["per_class"][neutral]
    routed = [i for i in rows if to_text[i]]
    emotional_called_neutral = [i for i in routed if refs[i] != neutral]
    corrected = [i for i in emotional_called_neutral if final[i] == refs[i]]
    neutral_broken = [i for i in routed if refs[i] == neutral and final[i] != neutral]
    n_emo = len(emotional_called_neutral)
    return {**{k: m[k] for k in scalar_metrics()},
            "neutral_precision": per["precision"], "neutral_recall": per["recall"], "num_utts": len(rows),
            "routed_to_text": len(routed), "emotional_called_neutral": n_emo, "corrected_by_text": len(corrected),
            "corrected_share": len(corrected) / n_emo if n_emo else None,
            "neutral_wrongly_changed": len(neutral_broken)}
