"""macro_f1: unweighted mean F1."""
from sklearn.metrics import f1_score

from mer.metrics import Predictions, register_metric


@register_metric("macro_f1", label="macro-F1", column=3)
def macro_f1(p: Predictions) -> float:
    """unweighted mean F1 over the classes that occur in the references or the predictions"""
    # sklearn's default label set: a class absent from both would only add a 0.
    return f1_score(p.refs, p.preds, labels=p.seen, average="macro", zero_division=0)
