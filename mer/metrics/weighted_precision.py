"""weighted_precision: per-class precision weighted by reference support."""
from sklearn.metrics import precision_recall_fscore_support

from mer.metrics import Predictions, register_metric


@register_metric("weighted_precision", label="weighted-P", column=None)
def weighted_precision(p: Predictions) -> float:
    """per-class precision weighted by reference support (MemoCMT Table 5's Prec)"""
    return precision_recall_fscore_support(p.refs, p.preds, labels=list(p.labels), average="weighted",
                                           zero_division=0)[0]
