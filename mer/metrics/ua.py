"""ua: unweighted average recall."""
from sklearn.metrics import recall_score

from mer.metrics import Predictions, register_metric


@register_metric("ua", label="UA", column=1)
def ua(p: Predictions) -> float:
    """mean recall over the classes present in the references (sklearn's balanced accuracy; UA, UAR)"""
    # A class with no reference utterance has no recall: left out rather than counted as 0.
    return recall_score(p.refs, p.preds, labels=p.in_refs, average="macro", zero_division=0)
