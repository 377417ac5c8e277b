"""Project hooks: build pipelines from the session's own configuration; before a run, refuse a run that
holds the report with what it reads, and say which pipeline produces any stored input that is missing.

One module per concern (``settings.HOOKS`` registers them; ``ecg_pipeline.hooks.<Name>`` imports them all):

- :mod:`.declaration`: :class:`DeclarationHook`, the session's configuration handed to the declaration;
- :mod:`.inputs`: :class:`MissingInputsHook` and the command that writes a stored input (:func:`producer_command`);
- :mod:`.provenance`: :class:`ProvenanceHook`, provenance stamps written and checked;
- :mod:`.report`: :class:`ReportOrderHook`, :class:`ReportLocationHook`;
- :mod:`.versions`: :class:`LoadedVersionsHook`, the stored version each node input came from;
- :mod:`.workers`: :class:`WorkerStartHook`, ParallelRunner workers with the project's settings;
- :mod:`.kedro_adapter`: the one place that reaches past Kedro's public API.
"""

from .declaration import DeclarationHook
from .inputs import PRODUCED_BY, MissingInputsHook, producer_command, producers_of
from .provenance import ProvenanceHook
from .report import ReportLocationHook, ReportOrderHook
from .versions import LoadedVersionsHook
from .workers import WorkerStartHook

__all__ = ["PRODUCED_BY", "DeclarationHook", "LoadedVersionsHook", "MissingInputsHook",
           "ProvenanceHook", "ReportLocationHook", "ReportOrderHook", "WorkerStartHook", "producer_command",
           "producers_of"]
