"""What a report shows: ``params:report`` (``conf/base/parameters_report.yml``) over the declared model runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation.intervals import Bootstrap

REPORT_KEYS = {"strict", "groups", "runs", "attacks", "pin", "per_class", "examples", "beat", "figure", "bootstrap"}


@dataclass(frozen=True)
class ModelRun:
    """A model run as the report knows it (from the project's declaration)."""

    run: str
    label: str                    # name in legends and tables, e.g. "0.4NSR" (seed 001's row names)
    data: str                     # e.g. "mitdb"
    data_title: str               # e.g. "MIT-BIH"
    model: str                    # model registry name, e.g. "mlp"
    attacks: tuple[str, ...]      # the attacks that judge it (the attack pipeline's instances)
    train_command: str            # what produces its model
    split: str = ""               # the split its attacks judge it on, e.g. "mitdb_test"
    reference: str | None = None  # the attack declared with the gradient-masking diagnostics (AutoAttack's): its
                                  # beats are the worst case's, its flags the headline's


@dataclass(frozen=True)
class EnsembleRun:
    """An ensemble of seed 004 as the report's ensemble figures know it (from the declaration)."""

    name: str
    label: str                    # e.g. "cor", "cor (vote)"
    data: str
    data_title: str
    base_model: str               # the registry model of its members (groups ensembles like the report's groups)
    combine: str                  # mean_logits | vote
    members_of: str | None        # the ensemble whose members it combines another way (None: its own members)
    attacks: tuple[str, ...]      # the attacks that judge it as deployed


@dataclass(frozen=True)
class Group:
    """Runs of one dataset and architecture, compared with each other (one figure / table per attack)."""

    key: str                      # e.g. "mitdb_mlp"; also the key of seed 001's published tables
    title: str                    # e.g. "MIT-BIH, MLP"
    runs: dict[str, str]          # run (namespace) -> label, e.g. {"nsr_mlp": "0.4NSR"}
    beat: dict[str, Any] = field(default_factory=dict)   # the group's own fs_hz / amplitude / lead of its examples


@dataclass(frozen=True)
class FigureStyle:
    dpi: int = 120
    width: float = 8.0            # inches
    height: float = 4.0
    font_size: float = 11.0


@dataclass(frozen=True)
class ReportSpec:
    groups: tuple[Group, ...]
    attacks: tuple[str, ...]
    model_runs: tuple[ModelRun, ...] = ()                   # the runs shown, report order
    strict: bool = False                                    # a declared evaluation that is not stored stops the run
    pin: dict[str, str] = field(default_factory=dict)       # "<run>.<attack>" -> version to read instead of the newest
    per_class: dict[str, list[float]] = field(default_factory=dict)   # grid_param -> strengths in the per-class tables
    examples: dict[str, Any] = field(default_factory=dict)  # grid_param -> strength drawn; "beats": beats per figure
    fs_hz: float = 125.0                                    # sampling rate of the stored beats (time axis)
    amplitude: str = "normalised amplitude"                 # y-axis label of the beat figures
    style: FigureStyle = FigureStyle()
    bootstrap: Bootstrap = Bootstrap()                      # the headline's intervals (stratified bootstrap)

    @property
    def runs(self) -> tuple[str, ...]:
        return tuple(r.run for r in self.model_runs)

    @classmethod
    def from_params(cls, params: dict, model_runs: tuple[ModelRun, ...] | list[ModelRun]) -> ReportSpec:
        """The report over ``model_runs`` (every declared model run), narrowed and laid out by ``params``."""
        params = dict(params or {})
        unknown = sorted(set(params) - REPORT_KEYS)
        if unknown:
            raise EcgDataError(f"parameters 'report': unknown key(s) {unknown}; expected some of {sorted(REPORT_KEYS)}")
        declared = {r.run: r for r in model_runs}
        runs = [declared[r] for r in _chosen(params.get("runs"), list(declared), "runs", "are not declared model runs")]
        attacks = tuple(_chosen(params.get("attacks"), list(dict.fromkeys(a for r in runs for a in r.attacks)),
                                "attacks", "judge none of the reported runs"))
        beat = params.get("beat") or {}
        return cls(
            groups=_groups(runs, params.get("groups") or {}),
            attacks=attacks,
            model_runs=tuple(runs),
            strict=bool(params.get("strict", False)),
            pin=_flat_pins(params.get("pin") or {}),
            per_class={k: [float(v) for v in values] for k, values in (params.get("per_class") or {}).items()},
            examples=dict(params.get("examples") or {}),
            fs_hz=float(beat.get("fs_hz", 125.0)),
            amplitude=str(beat.get("amplitude", "normalised amplitude")),
            style=FigureStyle(**(params.get("figure") or {})),
            bootstrap=Bootstrap.from_params(params.get("bootstrap")),
        )


def _chosen(requested: list | None, available: list[str], key: str, problem: str) -> list[str]:
    """``requested`` (None: all of ``available``), refusing names that are not available."""
    if requested is None:
        return available
    unknown = [name for name in requested if name not in available]
    if unknown:
        raise EcgDataError(f"parameters 'report.{key}': {unknown} {problem} (available: {available})")
    return list(requested)


def _groups(runs: list[ModelRun], declared: dict) -> tuple[Group, ...]:
    """Runs grouped by (data, model): a declared group's key and title where one matches, else ``<data>_<model>``."""
    by_match = {}
    for key, group in declared.items():
        if not isinstance(group, dict) or "data" not in group or "model" not in group:
            raise EcgDataError(f"parameters 'report.groups.{key}': expected {{title, data, model}}, got {group!r}")
        unknown = sorted(set(group) - {"title", "data", "model", "beat"})
        if unknown:
            raise EcgDataError(f"parameters 'report.groups.{key}': unknown key(s) {unknown}; expected title, data, model, beat")
        by_match[(group["data"], group["model"])] = (key, str(group.get("title", key)), dict(group.get("beat") or {}))
    groups: dict[str, tuple[str, dict[str, str], dict]] = {}
    for run in runs:
        key, title, beat = by_match.get((run.data, run.model),
                                        (f"{run.data}_{run.model}", f"{run.data_title}, {run.model}", {}))
        groups.setdefault(key, (title, {}, beat))[1][run.run] = run.label
    return tuple(Group(key, title, members, beat) for key, (title, members, beat) in groups.items())


def _flat_pins(pins: dict, prefix: str = "") -> dict[str, str]:
    """``{run: {attack: version}}`` (how ``--params=report.pin.<run>.<attack>=<version>`` nests) -> ``{"run.attack": version}``."""
    flat = {}
    for key, value in pins.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(_flat_pins(value, name))
        else:
            flat[name] = str(value)
    return flat
