"""Padding / masking nodes: variable-length records -> fixed-length arrays + 0/1 masks of real samples."""

from __future__ import annotations

import pandas as pd

from ecg_pipeline.data.cinc2017 import pad_cinc2017, split_cinc2017
from ecg_pipeline.data.cpsc2018 import pad_cpsc2018, split_cpsc2018
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.pipelines.params import call_with_params


def split_cinc(records: pd.DataFrame, params: dict):
    parts = call_with_params(split_cinc2017, records, params=params, section="padding_masking.cinc2017.split")
    if "validation" not in parts:
        raise EcgDataError("parameters 'padding_masking.cinc2017.split.validation_fraction': expected a share in (0, 1) "
                           "of the training part (the training runs keep their best validation epoch), got none")
    return parts["train"], parts["validation"], parts["test"]


def pad_cinc(records: pd.DataFrame, params: dict):
    return call_with_params(pad_cinc2017, records, params=params, section="padding_masking.cinc2017.pad")


def split_cpsc(records: pd.DataFrame, params: dict):
    parts = call_with_params(split_cpsc2018, records, params=params, section="padding_masking.cpsc2018.split")
    return parts["train"], parts["validation"], parts["test"]


def pad_cpsc_train(records: pd.DataFrame, params: dict):
    """Training records sit at a seeded random offset (the paper's shift augmentation)."""
    return call_with_params(pad_cpsc2018, records, params={**params, "placement": "random"},
                            section="padding_masking.cpsc2018.pad")


def pad_cpsc_eval(records: pd.DataFrame, params: dict):
    """Evaluation records are right-aligned."""
    return call_with_params(pad_cpsc2018, records, params={**params, "placement": "right"},
                            section="padding_masking.cpsc2018.pad")
