"""What a report shows, read from ``params:report`` (``conf/base/parameters_report.yml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ecg_pipeline.errors import EcgDataError

REPORT_KEYS = {"strict", "families", "attacks", "per_class", "examples", "beat", "figure"}


@dataclass(frozen=True)
class Family:
    """Models of one dataset and architecture, compared with each other (one figure / table per attack)."""

    key: str                      # e.g. "mitdb_mlp"; also the key of seed 001's published tables
    title: str                    # e.g. "MIT-BIH, MLP"
    runs: dict[str, str]          # run (namespace) -> label in legends and tables, e.g. {"nsr_mlp": "0.4NSR"}


@dataclass(frozen=True)
class FigureStyle:
    dpi: int = 120
    width: float = 8.0            # inches
    height: float = 4.0
    font_size: float = 11.0


@dataclass(frozen=True)
class ReportSpec:
    families: tuple[Family, ...]
    attacks: tuple[str, ...]
    strict: bool = False                                    # a requested artifact that is absent stops the run
    per_class: dict[str, list[float]] = field(default_factory=dict)   # grid_param -> strengths in the per-class tables
    examples: dict[str, Any] = field(default_factory=dict)  # grid_param -> strength drawn; "beats": beats per figure
    fs_hz: float = 125.0                                    # sampling rate of the stored beats (time axis)
    amplitude: str = "normalised amplitude"                 # y-axis label of the beat figures
    style: FigureStyle = FigureStyle()

    @property
    def runs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(run for family in self.families for run in family.runs))

    @classmethod
    def from_params(cls, params: dict) -> ReportSpec:
        unknown = sorted(set(params) - REPORT_KEYS)
        if unknown:
            raise EcgDataError(f"parameters 'report': unknown key(s) {unknown}; expected some of {sorted(REPORT_KEYS)}")
        families = []
        for key, family in (params.get("families") or {}).items():
            runs = family.get("runs") if isinstance(family, dict) else None
            if not runs or not isinstance(runs, dict):
                raise EcgDataError(f"parameters 'report.families.{key}': expected 'runs' as a mapping run -> label, "
                                   f"e.g. {{ce_mlp: CE}}; got {runs!r}")
            families.append(Family(key, str(family.get("title", key)), {str(r): str(label) for r, label in runs.items()}))
        if not families:
            raise EcgDataError("parameters 'report.families': no family of runs to report")
        beat = params.get("beat") or {}
        return cls(
            families=tuple(families),
            attacks=tuple(params.get("attacks") or ()),
            strict=bool(params.get("strict", False)),
            per_class={k: [float(v) for v in values] for k, values in (params.get("per_class") or {}).items()},
            examples=dict(params.get("examples") or {}),
            fs_hz=float(beat.get("fs_hz", 125.0)),
            amplitude=str(beat.get("amplitude", "normalised amplitude")),
            style=FigureStyle(**(params.get("figure") or {})),
        )
