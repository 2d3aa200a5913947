"""ovr_wa: balanced one-vs-rest accuracy, averaged over classes."""
import numpy as np

from mer.metrics import Predictions, register_metric


@register_metric("ovr_wa", label="OvR-WA")
def ovr_wa(p: Predictions) -> float:
    """mean over classes of (TP * N / P + TN) / 2N = (recall + specificity) / 2, the class against the rest"""
    # System B's MELD "WA" (its eq. 6; P, N: the class's positives and negatives). The paper's next
    # sentence calls it the mean recall, which is `ua`; the two differ. Classes without positives or
    # without negatives in the references have no value and are left out.
    c = p.one_vs_rest
    defined = (c["p"] > 0) & (c["n"] > 0)
    if not defined.any():
        return 0.0
    recall = c["tp"][defined] / c["p"][defined]
    specificity = c["tn"][defined] / c["n"][defined]
    return float(np.mean((recall + specificity) / 2))
