"""weighted_f1: per-class f1 weighted by reference support."""
from sklearn.metrics import precision_recall_fscore_support

from mer.metrics import Predictions, register_metric


@register_metric("weighted_f1", label="weighted-F1", column=4)
def weighted_f1(p: Predictions) -> float:
    """per-class f1 weighted by reference support (MELD's F1, system B's WF1)"""
    return precision_recall_fscore_support(p.refs, p.preds, labels=list(p.labels), average="weighted",
                                           zero_division=0)[2]
