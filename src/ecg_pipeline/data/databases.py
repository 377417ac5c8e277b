"""The databases the project reads, each declared once, as plain data (no Kedro here).

A database is a package ``ecg_pipeline.data.<name>`` whose ``__init__`` defines ``DATABASE``, a
:class:`Database`: its raw folders (:class:`RawSource`: marker files, where to fetch it), how each raw
folder becomes a record table (:class:`Ingest`), its class labels and its recipe (:class:`Step`: function,
input and output dataset names, the parameter section the function is called with). Everything that used
to name the databases one by one is derived from these declarations:

* ``pipelines.data_processing`` turns them into the ``ingestion`` nodes and the ``data_<name>`` pipelines
  (one template, instantiated per database);
* ``data.download`` reads the markers and the fetch function of each raw source;
* ``data.labels`` reads the class sets;
* the hooks' map of record tables (:func:`raw_inputs`) and the parameter checker's function sections
  (:func:`function_sections`).

The catalog's dataset factories (``"{database}_beats"``, ``"{database}_train"``, ... in
``conf/base/catalog.yml``) give a new database's datasets their files; only its record table needs an entry.
Adding a database: one package, its parameter block and that entry (``docs/extending-database.md``).
Packages are found by walking ``ecg_pipeline.data``; :func:`register` adds a declaration from elsewhere (a
plugin, a test).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecg_pipeline.errors import EcgConfigError

#: a database or raw source name: the folder under the data root and the prefix of its datasets; no ``_``
#: (the catalog's factories split ``<name>_<split>_records`` at underscores)
_NAME = re.compile(r"[a-z][a-z0-9]*")

#: the data stages, in order: each step names one (the ``segmentation`` / ``padding_masking`` / ...
#: pipelines are the steps of that stage, every database together)
STAGES = ("segmentation", "resampling", "padding_masking")


@dataclass(frozen=True)
class RawSource:
    """One raw folder under the data root (``<data_root>/<name>``, the catalog's ``<name>_raw``)."""

    name: str
    title: str
    #: what must exist in the folder for the database to count as present: any one of these files
    markers: tuple[str, ...]
    #: where it is fetched from (a URL or a PhysioNet database), quoted in the missing-data message
    source: str
    #: ``fetch(raw_source, folder)`` downloads it into ``folder`` (network code; tests never call it)
    fetch: Callable[[RawSource, Path], None]
    #: how the folder is shown in the missing-data message (default ``<name>/``)
    shown_as: str | None = None

    def __post_init__(self) -> None:
        _check_name(self.name, "raw source")
        if not self.markers:
            raise EcgConfigError(f"raw source {self.name!r}: expected at least one marker file")


@dataclass(frozen=True)
class Ingest:
    """A raw folder -> a record table: ``function(locate(folder), **params[section])``, stamped with the folder."""

    name: str  # the node's name, e.g. ingest_mitdb
    raw: str  # the RawSource it reads
    function: Callable[..., Any]
    output: str  # the record table, e.g. mitdb_records
    section: str  # e.g. ingestion.mitdb
    #: what in the folder the function reads (CinC 2017: the archive or its unzipped content)
    locate: Callable[[Path], Any] | None = None


@dataclass(frozen=True)
class Step:
    """One step of a recipe: ``function(*inputs, **{**params[section], **fixed})``.

    A step has one output, or a function that returns a dict of parts (a split) and names the part of each
    output in ``parts``. ``fixed``: keywords the step always passes (over its section's); ``required``:
    parameters of the section that must be set (``key -> what it is for``), refused by name before it runs."""

    name: str  # the node's name
    stage: str  # one of STAGES
    function: Callable[..., Any]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    section: str
    parts: tuple[str, ...] | None = None
    fixed: Mapping[str, Any] = field(default_factory=dict)
    required: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise EcgConfigError(f"step {self.name!r}: stage {self.stage!r}; expected one of {list(STAGES)}")
        if self.parts is None and len(self.outputs) != 1:
            raise EcgConfigError(f"step {self.name!r}: outputs {list(self.outputs)} but no parts; expected one "
                                 "output, or the part of the function's result each output is")
        if self.parts is not None and len(self.parts) != len(self.outputs):
            raise EcgConfigError(f"step {self.name!r}: {len(self.outputs)} outputs {list(self.outputs)} but "
                                 f"{len(self.parts)} parts {list(self.parts)}; expected one part per output")
        # plain dicts, copied: a step pickles (ParallelRunner) and the caller's mapping cannot change it later
        object.__setattr__(self, "fixed", dict(self.fixed))
        object.__setattr__(self, "required", dict(self.required))


@dataclass(frozen=True)
class Database:
    """A database: ``data_<name>`` runs its ingests, then its steps."""

    name: str
    title: str
    raw: tuple[RawSource, ...]
    ingests: tuple[Ingest, ...]
    steps: tuple[Step, ...] = ()
    #: label set name -> class names in index order (the set a table's labels are encoded with)
    class_sets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: whether a data variant (``data.<variant>.variant_of: <name>``) may instantiate the steps again
    variant_template: bool = False
    #: built only by its own ``data_<name>`` (a user's records, which most checkouts lack): left out of the
    #: ``ingestion`` / stage pipelines and ``data_processing`` (:func:`in_data_processing`)
    standalone: bool = False

    def __post_init__(self) -> None:
        _check_name(self.name, "database")
        raws = {r.name for r in self.raw}
        for ingest in self.ingests:
            if ingest.raw not in raws:
                raise EcgConfigError(f"database {self.name!r}: ingest {ingest.name!r} reads raw source "
                                     f"{ingest.raw!r}; expected one of {sorted(raws)}")
        object.__setattr__(self, "class_sets", {name: tuple(names) for name, names in self.class_sets.items()})

    @property
    def pipeline(self) -> str:
        return f"data_{self.name}"

    def step_sections(self) -> tuple[str, ...]:
        """The parameter sections of the steps (what a data variant reads under its own name)."""
        return tuple(dict.fromkeys(step.section for step in self.steps))


def _check_name(name: str, what: str) -> None:
    if not _NAME.fullmatch(name):
        raise EcgConfigError(f"{what} name {name!r}: expected lower-case letters and digits, starting with a "
                             "letter (it prefixes dataset names, which the catalog's factories split at '_')")


_registered: dict[str, Database] = {}


def register(database: Database) -> Database:
    """Declare a database that does not live in ``ecg_pipeline.data`` (a plugin, a test); returns it."""
    if database.name in _discovered() and _discovered()[database.name] is not database:
        raise EcgConfigError(f"database {database.name!r} is already declared by ecg_pipeline.data.{database.name}")
    _registered[database.name] = database
    return database


def unregister(name: str) -> None:
    """Forget a database added with :func:`register` (tests)."""
    _registered.pop(name, None)


_found: dict[str, Database] | None = None


def _discovered() -> dict[str, Database]:
    """The ``DATABASE`` of every sub-package of ``ecg_pipeline.data``, found once."""
    global _found
    if _found is None:
        import ecg_pipeline.data as package

        found = {}
        for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            if module.ispkg:
                database = getattr(importlib.import_module(f"{package.__name__}.{module.name}"), "DATABASE", None)
                if isinstance(database, Database):
                    found[database.name] = database
        _found = found
    return _found


def declared() -> dict[str, Database]:
    """Every database, by name (the packages of ``ecg_pipeline.data``, then those registered)."""
    return {**_discovered(), **_registered}


def in_data_processing() -> dict[str, Database]:
    """The databases that ``ingestion``, the stage pipelines and ``data_processing`` build (all but the
    ``standalone`` ones)."""
    return {name: db for name, db in declared().items() if not db.standalone}


def database(name: str) -> Database:
    every = declared()
    if name not in every:
        raise EcgConfigError(f"unknown database {name!r}; expected one of {sorted(every)}")
    return every[name]


def raw_sources() -> dict[str, RawSource]:
    """Every raw folder, by name (MIT-BIH brings two: ``mitdb`` and ``nstdb``)."""
    return {raw.name: raw for db in declared().values() for raw in db.raw}


def raw_inputs() -> dict[str, tuple[str, str]]:
    """Stored record table -> (the raw dataset it is built from, the pipeline that rebuilds it)."""
    return {ingest.output: (f"{ingest.raw}_raw", db.pipeline) for db in declared().values() for ingest in db.ingests}


def class_sets() -> dict[str, tuple[str, ...]]:
    """Every database's label sets, by name."""
    return {name: tuple(names) for db in declared().values() for name, names in db.class_sets.items()}


def function_sections() -> dict[str, str]:
    """Parameter section -> ``module:function`` it is passed to, for every ingest and step (what the
    parameter checker accepts under each section)."""
    sections = {}
    for db in declared().values():
        for unit in (*db.ingests, *db.steps):
            sections[unit.section] = f"{unit.function.__module__}:{unit.function.__qualname__}"
    return sections
