"""Resampling node: class balancing of the training split only."""

from __future__ import annotations

import numpy as np

from ecg_pipeline.data.balance import balance_training_set
from ecg_pipeline.pipelines.params import call_with_params


def balance(train: dict[str, np.ndarray], params: dict) -> dict[str, np.ndarray]:
    return call_with_params(balance_training_set, train, params=params, section="resampling")
