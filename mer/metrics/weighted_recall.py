"""weighted_recall: per-class recall weighted by reference support."""
from sklearn.metrics import precision_recall_fscore_support

from mer.metrics import Predictions, register_metric


@register_metric("weighted_recall", label="weighted-R", column=None)
def weighted_recall(p: Predictions) -> float:
    """per-class recall weighted by reference support (equals wa; MemoCMT Table 5's Rec)"""
    return precision_recall_fscore_support(p.refs, p.preds, labels=list(p.labels), average="weighted",
                                           zero_division=0)[1]
