"""The linear probe reproduces across machines because its regression is solved to the optimum:
lbfgs stopped at its default tolerance where the CPU's BLAS kernel steered it (on EmoDB's log-mel
probe, OPENBLAS_CORETYPE=Prescott against the default kernel moved posteriors by 0.03 and flipped
labels); at the optimum the kernels agree to a float32 rounding."""
from __future__ import annotations

import numpy as np

from mer.combine.linear_probe import fit_probe


def test_the_probe_is_fitted_to_the_optimum():
    """The gradient of sklearn's objective (mean log-loss + |W|^2 / (2 C n)) vanishes at the fit;
    lbfgs at its default tolerance stops where it is still ~1e-5."""
    rng = np.random.default_rng(0)
    n, d, k, C = 90, 12, 3, 0.5
    y = rng.integers(0, k, n)
    X = (rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 3 * np.eye(k, d)[y]).astype(np.float32)
    clf = fit_probe(X, list(y), C)
    scaler, lr = clf[0], clf[-1]
    Xs = scaler.transform(X.astype(np.float64))
    residual = lr.predict_proba(Xs) - np.eye(k)[y]
    grad_w = residual.T @ Xs / n + lr.coef_ / (C * n)
    grad_b = residual.mean(0)
    assert max(np.abs(grad_w).max(), np.abs(grad_b).max()) < 1e-9
    assert lr.coef_.dtype == np.float64


def test_fit_on_names_the_parts_it_may_take():
    from mer.combine.linear_probe import LinearProbe
    import pytest

    assert LinearProbe(dump="d", fit_on="train").fit_on == "train"
    with pytest.raises(ValueError, match="fit_on must be one of train\\+valid, train"):
        LinearProbe(dump="d", fit_on="valid")
