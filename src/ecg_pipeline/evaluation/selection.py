"""Model selection over a sweep: the member with the best robustness on the validation split wins.

Seed 001 (section III-A and eq. 8) tunes beta (NSR), lambda (Jacobian) and eps (adversarial
training) by training one model per value and keeping the one with the highest ACC_robust under
100-PGD on the validation set. ``selection_table`` ranks members by that score from their stored
evaluations, whichever attack made them: the project selects by the validation worst case under
APGD-CE, APGD-T and Square by default (issue 28 item 3: PGD rewards gradient masking), PGD on request.
``scored_by`` names the evaluation every member must have been scored with, so that a ranking never
mixes two attacks. It knows nothing of Kedro.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from ecg_pipeline.errors import EcgDataError

CRITERIA = ("acc_robust_balanced", "acc_robust", "f1_robust")


def member_name(vary: str, value: float) -> str:
    """Namespace-safe name of the member that sets ``vary`` to ``value``: ``objective.beta, 0.4 -> beta_0p4``.

    Kedro namespaces are dot-separated, so the decimal point becomes ``p`` (and a minus sign ``m``).
    """
    text = format(float(value), "g").replace(".", "p").replace("-", "m")
    return f"{vary.rsplit('.', 1)[-1]}_{text}"


def check_sweep(name: str, spec: Mapping) -> None:
    """Refuse a sweep definition that cannot expand: names the sweep and the key at fault."""
    missing = [key for key in ("run", "vary", "values") if key not in spec]
    if missing:
        raise EcgDataError(f"sweep '{name}': missing key(s) {missing}; expected run (base training run), "
                           "vary (dotted parameter, e.g. objective.beta) and values (a list of numbers)")
    unknown = sorted(set(spec) - {"run", "vary", "values", "criterion"})
    if unknown:
        raise EcgDataError(f"sweep '{name}': unknown key(s) {unknown}; expected run, vary, values, criterion")
    values = spec["values"]
    if not isinstance(values, Sequence) or isinstance(values, str) or not values:
        raise EcgDataError(f"sweep '{name}': values must be a non-empty list of numbers, got {values!r}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise EcgDataError(f"sweep '{name}': every value of {spec['vary']} must be a number >= 0, got {value!r}")
    names = [member_name(spec["vary"], v) for v in values]
    if len(set(names)) != len(names):
        raise EcgDataError(f"sweep '{name}': values {list(values)} repeat a member ({names})")
    if spec.get("criterion", CRITERIA[0]) not in CRITERIA:
        raise EcgDataError(f"sweep '{name}': criterion must be one of {CRITERIA}, got {spec['criterion']!r}")


def evaluation_name(metrics: Mapping) -> str | None:
    """The evaluation a metrics JSON was stored as: the last part of its ``run`` (``<member>.<attack>_validation``
    -> ``<attack>_validation``); None when it names none."""
    run = metrics.get("run")
    return run.rsplit(".", 1)[-1] if isinstance(run, str) and run else None


def selection_table(scores: Mapping[str, dict], values: Mapping[str, float], *, vary: str,
                    criterion: str = "acc_robust_balanced", scored_by: str | None = None) -> pd.DataFrame:
    """One row per member, best first: its value, validation ACC_robust / F1_robust and clean accuracy.

    ``scores[member]`` is the member's stored validation evaluation (the attack pipeline's metrics
    JSON); ``values[member]`` the value it was trained with. ``scored_by`` (e.g.
    ``worst_case_selection_validation``): the evaluation every member's scores must come from, refused
    otherwise (None: not checked). Ties on ``criterion`` go to the higher clean balanced accuracy, then
    to the smaller value (the weaker regulariser). The winner has ``selected == True``.
    """
    if criterion not in CRITERIA:
        raise EcgDataError(f"selection criterion must be one of {CRITERIA}, got {criterion!r}")
    rows = []
    for member, metrics in scores.items():
        if scored_by is not None and evaluation_name(metrics) != scored_by:
            raise EcgDataError(f"sweep member '{member}': its validation scores come from evaluation "
                               f"{evaluation_name(metrics)!r} (run {metrics.get('run')!r}); expected {scored_by!r}, "
                               f"the declared model_selection attack on the validation split")
        if criterion not in metrics or not metrics.get("curve"):
            raise EcgDataError(f"sweep member '{member}': its validation evaluation has no '{criterion}' "
                               f"(an eps grid with eps_max is needed); keys: {sorted(metrics)}")
        clean = metrics["curve"][0]
        rows.append({
            "member": member, vary: values[member],
            "acc_robust_balanced": metrics.get("acc_robust_balanced"), "acc_robust": metrics.get("acc_robust"),
            "f1_robust": metrics.get("f1_robust"),
            "clean_balanced_accuracy": clean["balanced_accuracy"], "clean_accuracy": clean["accuracy"],
            "attack": metrics.get("attack"), "scored_by": evaluation_name(metrics), "eps_max": metrics.get("eps_max"),
            "n": metrics.get("n"),
        })
    table = pd.DataFrame(rows).sort_values([criterion, "clean_balanced_accuracy", vary],
                                           ascending=[False, False, True], kind="stable").reset_index(drop=True)
    table.insert(1, "selected", table.index == 0)
    table.insert(0, "rank", table.index + 1)
    return table
