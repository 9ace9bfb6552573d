from __future__ import annotations

import numpy as np

from mleditor.training.calibration import apply_platt, fit_platt


def test_platt_scaling_recovers_known_parameters():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, 50_000)
    labels = (rng.random(50_000) < 1 / (1 + np.exp(-(0.5 * logits - 0.3)))).astype(int)
    a, b = fit_platt(logits, labels)
    assert abs(a - 0.5) < 0.03 and abs(b + 0.3) < 0.03
    assert np.all((apply_platt(logits, a, b) > 0) & (apply_platt(logits, a, b) < 1))
