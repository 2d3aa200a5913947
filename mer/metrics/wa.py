"""wa: overall accuracy."""
from sklearn.metrics import accuracy_score

from mer.metrics import Predictions, register_metric


@register_metric("wa", label="WA", column=2)
def wa(p: Predictions) -> float:
    """overall accuracy: correct / total (MemoCMT's W-Acc, system C's WA, MemoCMT Table 5's Acc)"""
    return accuracy_score(p.refs, p.preds)
