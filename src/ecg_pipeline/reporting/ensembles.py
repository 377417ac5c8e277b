"""The ensemble figures of seed 004 (Figs. 3-6) per (data, member model) group, from the stored transfer studies,
and each deployed ensemble's transferred vs adaptive accuracy (its stored evaluations)."""

from __future__ import annotations

from collections.abc import Mapping

from . import figures
from .published import SEED004_DATA, seed004_points
from .spec import EnsembleRun, ReportSpec
from .worst_cases import pinned


def figure_name(*parts: str) -> str:
    """File name of a figure in a figure folder (``a__b.png``); the page's captions read it back."""
    return "__".join(parts) + ".png"


def _ensemble_group(params: dict, ensemble: EnsembleRun) -> tuple[str, str]:
    """(key, title) of the report group of the ensemble's data and member model (``report.groups``)."""
    for key, group in (params.get("groups") or {}).items():
        if isinstance(group, dict) and (group.get("data"), group.get("model")) == (ensemble.data, ensemble.base_model):
            return str(key), str(group.get("title", key))
    return f"{ensemble.data}_{ensemble.base_model}", f"{ensemble.data_title}, {ensemble.base_model}"


def ensemble_figures(spec: ReportSpec, params: dict, transfers: Mapping, evaluations: Mapping,
                     ensembles: tuple[EnsembleRun, ...]) -> dict:
    """Seed 004 Figs. 3-6 per (data, member model) group from the stored transfer studies (``<e>.transfer``), and
    the deployed ensembles' transferred vs adaptive accuracy (their stored ``<e>.<attack>.metrics``). A stored
    version is pinned with ``report.pin.<ensemble>.transfer``."""
    keyed = {f"{name}.transfer": artifact for name, artifact in transfers.items()}
    result: dict = {}
    groups: dict[tuple[str, str], list[EnsembleRun]] = {}
    for ensemble in ensembles:
        groups.setdefault(_ensemble_group(params, ensemble), []).append(ensemble)
    for (key, title), members in groups.items():
        studies = {e.name: stored.data for e in members
                   if (stored := pinned(spec, keyed, f"{e.name}.transfer")) is not None}
        own = [e for e in members if e.members_of is None and e.name in studies]
        label = {e.name: f"{e.label} ({e.name})" for e in members}
        eps_label = f"eps ({members[0].data_title} input units)"
        attacks = list(dict.fromkeys(a for e in own for a in studies[e.name]["attacks"]))
        for attack in attacks:
            rows = {label[e.name]: studies[e.name]["attacks"][attack] for e in own if attack in studies[e.name]["attacks"]}
            result[figure_name(key, "ensembles", attack)] = figures.ensemble_agreement(
                title, attack, rows, spec.style, eps_label=eps_label, published=seed004_points(attack) or None,
                published_label=SEED004_DATA)
        if own:
            result[figure_name(key, "ensembles", "clean")] = figures.ensemble_natural(
                title, {label[e.name]: studies[e.name]["clean"] for e in own}, spec.style)
            result[figure_name(key, "ensembles", "feature_r2")] = figures.feature_r2_heatmaps(
                title, {label[e.name]: (studies[e.name]["members"], studies[e.name]["feature_r2"]) for e in own},
                spec.style)
        panels = {}
        for e in (e for e in members if e.members_of is None):
            curves: dict[str, dict[str, tuple]] = {"transfer": {}, "adaptive": {}}
            for deployed in [e, *(v for v in members if v.members_of == e.name)]:
                for attack, rows in studies.get(deployed.name, {}).get("attacks", {}).items():
                    curves["transfer"][f"{attack} on base, {deployed.combine}"] = (
                        [r["eps"] for r in rows], [r["ensemble_accuracy"] for r in rows])
                for attack in deployed.attacks:
                    stored = pinned(spec, evaluations, f"{deployed.name}.{attack}")
                    if stored is not None and stored.data.get("grid_param") == "eps":
                        curve = stored.data["curve"]
                        curves["adaptive"][f"{attack} on {deployed.combine}"] = (
                            [p["eps"] for p in curve], [p["balanced_accuracy"] for p in curve])
            if curves["transfer"] or curves["adaptive"]:
                panels[label[e.name]] = curves
        if panels:
            result[figure_name(key, "ensembles", "transfer_vs_adaptive")] = figures.transfer_vs_adaptive(
                title, panels, spec.style)
    return result
