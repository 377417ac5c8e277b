"""The model zoo (``zoo/`` at the repository root, tracked in git): trained models with their full training
configuration, data fingerprint, commit and stored evaluations, and the re-check that reproduces them.

    python -m ecg_pipeline.zoo add --project /path/to/kedro/project --run ce_mlp     # create an entry
    python -m ecg_pipeline.zoo check [--entries ce_mlp] [--attacks pgd]             # re-run and compare
    python -m ecg_pipeline.zoo list

:mod:`.index` (the index and its sha256 checks), :mod:`.add` (an entry from a project's stored artifacts),
:mod:`.card` (the model card), :mod:`.recheck` (the re-check)."""

from __future__ import annotations

from .add import add_entry
from .index import default_zoo, read_index, verify_files
from .recheck import check_zoo, rebuild_split

__all__ = ["add_entry", "check_zoo", "default_zoo", "read_index", "rebuild_split", "verify_files"]
