"""What the report reads of the stored artifacts: the version of each (``report.pin``), which declared
evaluations are stored (coverage), and each model's per-beat worst case over its stored eps evaluations,
computed once per report (node ``report.worst_cases``) and read by the headline, the curves and the tables.

A model's worst case (:func:`~ecg_pipeline.evaluation.worst_case.worst_case`) is scored on the beats of its
reference evaluation (the one declared with the gradient-masking diagnostics, AutoAttack's; else the one
covering the most beats); an attack evaluated on other beats contributes where it overlaps, and how many
of the scored beats each attack covered is recorded. "Min over attacks" of each attack's ACC_robust, an
upper bound of the worst case, is computed over the attacks that scored all of the worst case's beats, on
those beats (``full_coverage``), and over every attack on the beats every one of them scored, beside the worst
case on those same beats (``common``): neither can fall below the worst case it is shown with
(:func:`~ecg_pipeline.evaluation.worst_case.min_over_attacks`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation import diagnostics
from ecg_pipeline.evaluation.intervals import Bootstrap
from ecg_pipeline.evaluation.worst_case import Outcomes, min_over_attacks, worst_case
from ecg_pipeline.run_context import kedro_command

from .spec import Group, ReportSpec
from .table import encode_outcomes

log = logging.getLogger(__name__)

WORST_CASE = "worst case"


class Stored(Protocol):
    """One stored artifact as the report reads it (``ecg_pipeline.datasets.optional.StoredArtifact``)."""

    filepath: str
    version: str | None
    data: Any
    versions: tuple[str, ...]

    def at(self, version: str) -> Stored: ...


def pinned(spec: ReportSpec, stored: Mapping[str, Stored], key: str, *, strict_pin: bool = True) -> Stored | None:
    """``stored[key]``, at the version ``report.pin`` names for it (else the newest); None when absent."""
    artifact = stored.get(key)
    version = spec.pin.get(key)
    if version is None or (artifact is not None and version == artifact.version):
        return artifact
    if artifact is None:
        if strict_pin:
            raise EcgDataError(f"parameters 'report.pin.{key}': {version} is pinned but no version of {key} is stored")
        return None
    if not strict_pin and version not in artifact.versions:
        return artifact
    return artifact.at(version)


def group_evaluations(spec: ReportSpec, group: Group, attack: str, evaluations: Mapping[str, Stored]) -> dict:
    """run -> (label, metrics, version) of the group's runs that have a stored evaluation of ``attack``."""
    found = {}
    for run, label in group.runs.items():
        stored = pinned(spec, evaluations, f"{run}.{attack}")
        if stored is not None:
            found[run] = (label, stored.data, stored.version)
    return found


def coverage(spec: ReportSpec, evaluations: Mapping, histories: Mapping, flags: str = "") -> list[dict]:
    """One row per reported model: which of its attacks are stored, and the one command that adds the rest
    (``flags``: the session's `` --env=.. --params=..``, repeated so a copied command stays in its configuration)."""
    rows = []
    for run in spec.model_runs:
        judged = [a for a in spec.attacks if a in run.attacks]
        stored = {a: f"{run.run}.{a}" in evaluations for a in judged}
        missing = [a for a, found in stored.items() if not found]
        command = None
        if missing:
            command = f"kedro run --pipelines=attack --namespaces={run.run}"
            if any(stored.values()):  # some are stored: evaluate only the others
                command += " --only-missing-outputs"
            command += flags
            if not any(stored.values()) and run.run not in histories:
                command = f"{run.train_command}{flags} && {command}"
        rows.append({"run": run.run, "label": run.label, "attacks": stored, "missing": missing, "command": command})
    return rows


def _model_identity(metrics: dict) -> str:
    """What an evaluation says of the model it judged (run, configuration fingerprint, epochs, final history
    row): two evaluations of one model say the same."""
    return json.dumps(metrics.get("model"), sort_keys=True, default=str)


def of_an_earlier_model(metrics_of: dict[str, dict], versions: dict[str, str]) -> list[str]:
    """The attacks whose stored evaluation judged another model than the run's newest evaluation did (the run
    was retrained since, and only some attacks re-run): a per-beat worst case must not mix two models' beats."""
    if not metrics_of:
        return []
    newest = _model_identity(metrics_of[max(versions, key=versions.get)])
    return sorted(a for a, m in metrics_of.items() if _model_identity(m) != newest)


def worst_cases(spec: ReportSpec, evaluations: Mapping[str, Stored], examples: Mapping[str, Stored],
                bootstrap: Bootstrap | None = None) -> dict[str, dict]:
    """run -> its per-beat worst case over every stored eps evaluation of one model (JSON-ready): the curve,
    ACC_robust / F1_robust, the bootstrap intervals, the beats scored (split, count per class, how many each
    attack covered), the min over attacks on the common beats, the reference evaluation's flags, and the
    white-box results a gradient-free attack beats."""
    result = {}
    for run in spec.model_runs:
        outcomes, metrics_of, versions = {}, {}, {}
        for attack in run.attacks:
            stored = pinned(spec, evaluations, f"{run.run}.{attack}")
            shown = pinned(spec, examples, f"{run.run}.{attack}", strict_pin=False)
            if stored is None or shown is None or stored.data.get("grid_param") != "eps" or "pred" not in shown.data:
                continue
            outcomes[attack] = Outcomes.from_examples(shown.data, f"{run.run}.{attack}")
            metrics_of[attack] = stored.data
            versions[attack] = stored.version
        stale = of_an_earlier_model(metrics_of, versions)
        if stale:
            log.warning("%s: evaluations %s judged an earlier model of the run than its newest evaluation (%s); "
                        "not combined into its worst case. Re-run them: %s",
                        run.run, ", ".join(stale), max(versions, key=versions.get),
                        kedro_command("--pipelines=attack", "--namespaces=" + ",".join(f"{run.run}.{a}" for a in stale)))
        for attack in stale:
            del outcomes[attack], metrics_of[attack], versions[attack]
        if not outcomes:
            continue
        reference = run.reference if run.reference in outcomes else None
        base = metrics_of[reference or max(outcomes, key=lambda a: outcomes[a].subset.size)]
        eps_max = base.get("eps_max")
        combined = worst_case(outcomes, base["grid"], base["classes"], population=reference, eps_max=eps_max,
                              bootstrap=bootstrap, per_beat=True)
        common = (min_over_attacks(outcomes, base["grid"], base["classes"], eps_max=eps_max, bootstrap=bootstrap)
                  if eps_max is not None else None)
        y = combined.pop("y")
        beats, correct = combined.pop("beats", None), combined.pop("correct", None)
        if correct is not None:   # per-beat outcomes (worst_case(per_beat=True)): the benchmark table's pairs
            combined["per_beat"] = encode_outcomes(beats, y, correct)
        if eps_max is not None:  # the attacks that scored every beat of the worst case: their own ACC_robust there
            scored = np.asarray(outcomes[combined["population"]].subset)
            full = {a: worst_case({a: outcomes[a]}, base["grid"], base["classes"], beats=scored,
                                  eps_max=eps_max)["acc_robust_balanced"]
                    for a, k in combined["coverage"].items() if k == combined["n"]}
            combined["full_coverage"] = full
        combined.update(
            run=run.run, label=run.label, split=run.split or f"{run.data}_test", grid_param="eps", attack=WORST_CASE,
            per_class={str(base["classes"][int(c)]): int(k) for c, k in zip(*np.unique(y, return_counts=True))},
            common=common, reference=reference, versions=versions, stale=stale,
            doubted=diagnostics.white_box_beaten_by_gradient_free(
                outcomes, {a: m.get("attack", a) for a, m in metrics_of.items()}),
            flags=metrics_of[reference].get("flags", []) if reference else [],
            escalation=escalations(metrics_of),
            provenance=(metrics_of[reference] if reference else base).get("provenance"),
            model=(metrics_of[reference] if reference else base).get("model"))
        if common is not None:
            common["per_class"] = {str(base["classes"][int(c)]): k for c, k in common["per_class"].items()}
        result[run.run] = _plain(combined)
    return result


def escalations(metrics_of: Mapping[str, dict]) -> dict[str, dict]:
    """attack -> how far its escalation (:mod:`ecg_pipeline.evaluation.escalation`) went, for the evaluations of a
    model that ran one: rounds run, why it stopped, the last round's largest move and where, the beats added."""
    keys = ("doublings", "max_doublings", "tolerance", "stopped", "converged", "last_move", "last_move_eps", "added")
    return {attack: {k: m["escalation"][k] for k in keys} for attack, m in metrics_of.items() if m.get("escalation")}


def _plain(value):
    """``value`` with numpy scalars and arrays as Python numbers and lists (a JSON dataset stores it)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
