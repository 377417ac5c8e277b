"""Evaluate your own model: a model trained outside the project (a TorchScript file, or a state dict of a
registry model) or a zoo entry, with its input contract, judged by the project's full worst-case evaluation on
MIT-BIH's test split or on your own records (``wfdb_test``: cross-database evaluation). No Kedro here; the
pipelines ``own_model`` / ``own_model_wfdb`` and ``python -m ecg_pipeline.own_model`` are thin wrappers.

:mod:`.contract` (beat scheme, length, class list), :mod:`.loading` (the three sources), :mod:`.checks` (the
refusals before any attack), :mod:`.judge` (attacks, worst case, certified bound, headline row)."""

from __future__ import annotations

from .checks import check_model
from .contract import InputContract
from .judge import Judged, beside_the_zoo, judge, zoo_headline
from .loading import ScriptedModel, load_model

__all__ = ["InputContract", "Judged", "ScriptedModel", "beside_the_zoo", "check_model", "judge", "load_model",
           "zoo_headline"]
