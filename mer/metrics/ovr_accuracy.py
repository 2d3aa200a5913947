"""ovr_accuracy: one-vs-rest binary accuracy, averaged over classes."""
import numpy as np

from mer.metrics import Predictions, register_metric


@register_metric("ovr_accuracy", label="OvR-Acc")
def ovr_accuracy(p: Predictions) -> float:
    """mean over classes of the binary accuracy (TP + TN) / (TP + TN + FP + FN), the class against the rest"""
    # System B's MOSEI "Accuracy" (its eq. 4). With C classes it equals 1 - 2 (1 - wa) / C: a 6-way
    # accuracy of 65.2 % reads as 88.4 %.
    c = p.one_vs_rest
    return float(np.mean((c["tp"] + c["tn"]) / (c["p"] + c["n"])))
