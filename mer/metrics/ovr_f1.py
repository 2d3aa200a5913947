"""ovr_f1: one-vs-rest binary F1, averaged over classes."""
import numpy as np

from mer.metrics import Predictions, register_metric


@register_metric("ovr_f1", label="OvR-F1")
def ovr_f1(p: Predictions) -> float:
    """mean over classes of the binary F1 2 TP / (2 TP + FP + FN), the class against the rest"""
    # System B's MOSEI "F1" (its eq. 5). The binary F1 of a class is its per-class F1, so this equals
    # macro_f1; kept under its own name so that published rows name the paper's definition. Classes
    # that occur in neither references nor predictions (0 / 0) are left out, as macro_f1 does.
    c = p.one_vs_rest
    denom = 2 * c["tp"] + c["fp"] + c["fn"]
    defined = denom > 0
    return float(np.mean(2 * c["tp"][defined] / denom[defined])) if defined.any() else 0.0
