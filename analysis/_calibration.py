"""Calibrated confidence: raw detector scores mapped to "how often is a finding like this right".

The map is monotone and piecewise linear, fitted on the RCA corpus (healthy runs included) by
``benchmarks/rca/calibrate.py`` (isotonic regression of "the finding was right" on the raw score)
and shipped as ``calibration.json``. Levels: a finding at or above ``HIGH_MIN`` must be right at
least 90 % of the time on the corpus; ``docs/accuracy.md`` shows the reliability table.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import numpy as np


@cache
def _knots() -> tuple[np.ndarray, np.ndarray]:
    text = resources.files("infersight.analysis").joinpath("calibration.json").read_text(encoding="utf-8")
    knots = json.loads(text)["knots"]
    x = np.array([float(k[0]) for k in knots])
    y = np.maximum.accumulate(np.array([float(k[1]) for k in knots]))
    return x, y


def calibrated(raw: float) -> float:
    """The calibrated confidence (0..1) of a raw score (0..1)."""
    x, y = _knots()
    return float(np.clip(np.interp(float(raw), x, y), 0.0, 1.0))


__all__ = ["calibrated"]
