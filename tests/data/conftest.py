"""Helpers shared by the data tests."""

from __future__ import annotations

import numpy as np
import pytest


def _dense(signals, length, starts):
    """Reference: each (already fitting) signal written at its start into a zero window."""
    n_leads = signals[0].shape[0]
    x = np.zeros((len(signals), n_leads, length), dtype=np.float32)
    mask = np.zeros((len(signals), 1, length), dtype=np.float32)
    for i, (sig, s) in enumerate(zip(signals, starts)):
        x[i, :, s : s + sig.shape[1]] = sig
        mask[i, :, s : s + sig.shape[1]] = 1
    return x, mask


@pytest.fixture(scope="session")
def dense_windows():
    """The dense ``x`` / ``mask`` built independently (``np.zeros`` + one slice assignment per
    record), the way the former dense padding code laid records out."""
    return _dense
