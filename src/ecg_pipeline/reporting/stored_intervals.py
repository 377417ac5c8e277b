"""The 95 % intervals of stored evaluations, computed exactly as the report computes them (issue 28: every
accuracy in docs/results.md carries its interval).

``python -m ecg_pipeline.reporting.stored_intervals <project dir> <run> [<attack> ...]`` prints, for each stored
evaluation of ``run`` (every one when no attack is named): the class-balanced accuracy clean and per eps (per SNR
for a noise curve) and ACC_robust (class-balanced, seed 001 eq. 8, up to the evaluation's eps_max); then the
per-beat worst case over the eps evaluations (:func:`~ecg_pipeline.evaluation.worst_case.worst_case`, scored on
AutoAttack's beats where it is among them, as the report's ``worst_cases`` node scores it), and the certified bound
where ``<run>.certify`` is stored.
Every number carries the stratified bootstrap interval of :mod:`ecg_pipeline.evaluation.intervals`, with the
settings of the project's ``report.bootstrap`` (conf/base/parameters_report.yml; ``--env`` layers an env's), and
beside it the value the evaluation stored, so a number quoted from a document can be checked digit by digit.

Three layouts are read: a Kedro project (``data/08_reporting/attacks/<run>/<attack>.json/<version>/`` and the
per-beat outcomes ``data/07_model_output/adversarial/<run>/<attack>.npz/<version>/``, the newest version unless
``--version attack=<version>``; certificates under ``.../certify/<run>.{json,npz}/<version>/``), and a zoo
(``zoo/<entry>/evaluations/<attack>.{json,npz}``, ``zoo/<entry>/certified/certify.{json,npz}``); ``--own-model``
reads the ``own_model`` pipeline's judgement of a split (``<run>`` names the split). ``--report
<version>`` instead rescores the per-beat worst case a stored report kept (``worst_cases.json``), for runs whose
evaluations are gone. An evaluation stored without its per-beat outcomes is refused, naming the file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation.intervals import Bootstrap, Interval, robustness_intervals
from ecg_pipeline.evaluation.worst_case import Outcomes, worst_case
from ecg_pipeline.versioned_store import newest

from .table import decode_outcomes

#: The evaluation the report scores a worst case on when it is stored (the one declared with the masking checks).
REFERENCE = "autoattack"
CERTIFY = "certify"


@dataclass(frozen=True)
class Evaluation:
    """One stored evaluation: its metrics JSON, its per-beat outcomes, where they came from."""

    name: str
    version: str
    metrics: dict
    outcomes: Outcomes
    source: Path | None


# ---- reading what is stored ------------------------------------------------------------------------------------

def _read_stored(metrics_file: Path, outcomes_file: Path, name: str) -> tuple[dict, dict[str, np.ndarray]]:
    """A stored metrics JSON and the npz of per-beat outcomes beside it; refuses, naming both, where one is absent."""
    if not metrics_file.is_file():
        raise EcgDataError(f"{name}: no stored metrics at {metrics_file}")
    if not outcomes_file.is_file():
        raise EcgDataError(f"{name}: the per-beat outcomes are not stored: expected {outcomes_file} beside "
                           f"{metrics_file}; without them no interval can be computed")
    with np.load(outcomes_file, allow_pickle=False) as found:
        return json.loads(metrics_file.read_text()), {k: found[k] for k in found.files}


def _load_pair(metrics_file: Path, examples_file: Path, name: str, version: str) -> Evaluation:
    metrics, examples = _read_stored(metrics_file, examples_file, name)
    try:
        outcomes = Outcomes.from_examples(examples, name)
    except EcgDataError as error:
        raise EcgDataError(f"{examples_file}: {error}") from None
    if outcomes.pred.shape != (len(metrics["grid"]), outcomes.subset.size):
        raise EcgDataError(f"{examples_file}: pred of shape {outcomes.pred.shape}, expected "
                           f"{(len(metrics['grid']), outcomes.subset.size)} (the grid of {metrics_file})")
    return Evaluation(name, version, metrics, outcomes, examples_file)


def is_zoo_entry(root: Path, run: str) -> bool:
    return (root / run / "evaluations").is_dir()


def stored_attacks(root: Path, run: str) -> list[str]:
    """The run's stored evaluations, by attack name (eps grids and noise curves over SNR; not its validation-split
    selections, whose names hold a dot)."""
    if is_zoo_entry(root, run):
        files = sorted((root / run / "evaluations").glob("*.json"))
        names = [f.stem for f in files if not f.stem.endswith(".provenance")]
    else:
        folder = root / "data" / "08_reporting" / "attacks" / run
        names = sorted(p.name[:-len(".json")] for p in folder.glob("*.json")) if folder.is_dir() else []
    found = []
    for name in names:
        if "." in name:
            continue
        if _metrics_file(root, run, name) is not None:
            found.append(name)
    if not found:
        raise EcgDataError(f"run {run!r}: no stored evaluation under {root} (expected "
                           f"data/08_reporting/attacks/{run}/<attack>.json/<version>/ or {run}/evaluations/)")
    return found


def _metrics_file(root: Path, run: str, attack: str, version: str | None = None) -> Path | None:
    if is_zoo_entry(root, run):
        return root / run / "evaluations" / f"{attack}.json"
    folder = root / "data" / "08_reporting" / "attacks" / run / f"{attack}.json"
    version = version or newest(folder)
    return folder / version / f"{attack}.json" if version else None


def load_evaluation(root: Path, run: str, attack: str, version: str | None = None) -> Evaluation:
    """``run``'s stored evaluation by ``attack`` (its newest version unless ``version``) with its per-beat outcomes."""
    name = f"{run}.{attack}"
    if is_zoo_entry(root, run):
        folder = root / run / "evaluations"
        return _load_pair(folder / f"{attack}.json", folder / f"{attack}.npz", name, "zoo")
    metrics_file = _metrics_file(root, run, attack, version)
    if metrics_file is None:
        raise EcgDataError(f"{name}: no stored evaluation under {root / 'data/08_reporting/attacks' / run}")
    version = metrics_file.parent.name
    examples = root / "data" / "07_model_output" / "adversarial" / run / f"{attack}.npz" / version / f"{attack}.npz"
    return _load_pair(metrics_file, examples, name, version)


def load_own_model(root: Path, split: str, version: str | None = None) -> dict[str, Evaluation]:
    """A judged own model's evaluations and certificate (pipeline ``own_model``: one metrics JSON and one outcomes
    npz per split, ``pred_<attack>`` / ``subset_<attack>`` / ``grid_<attack>`` and ``pred_certify``), by name."""
    folder = root / "data" / "08_reporting" / "own_model" / split / "metrics.json"
    version = version or newest(folder)
    if version is None:
        raise EcgDataError(f"own model on {split!r}: no stored judgement at {folder}")
    metrics_file = folder / version / "metrics.json"
    outcomes_file = root / "data" / "07_model_output" / "own_model" / split / "outcomes.npz" / version / "outcomes.npz"
    metrics, stored = _read_stored(metrics_file, outcomes_file, f"own model on {split!r}")
    parts = {**metrics.get("evaluations", {}), **({CERTIFY: metrics["certified"]} if metrics.get("certified") else {})}
    result = {}
    for name, part in parts.items():
        keys = [f"pred_{name}", f"subset_{name}"]
        if any(k not in stored for k in keys):
            raise EcgDataError(f"{outcomes_file}: no per-beat outcomes of {name!r} (expected {keys})")
        examples = {"grid": stored.get(f"grid_{name}", stored["grid"]), "subset": stored[f"subset_{name}"],
                    "subset_y": stored["subset_y"], "pred": stored[f"pred_{name}"]}
        result[name] = Evaluation(f"{metrics.get('run', 'own model')}.{name}", version, part,
                                  Outcomes.from_examples(examples, name), outcomes_file)
    return result


def load_certificate(root: Path, run: str, version: str | None = None) -> Evaluation | None:
    """``run``'s stored certificate (``<run>.certify``) with its per-beat outcome; None when none is stored."""
    name = f"{run}.{CERTIFY}"
    if is_zoo_entry(root, run):
        folder = root / run / "certified"
        return _load_pair(folder / "certify.json", folder / "certify.npz", name, "zoo") if folder.is_dir() else None
    folder = root / "data" / "08_reporting" / "certify" / f"{run}.json"
    version = version or newest(folder)
    if version is None:
        return None
    examples = root / "data" / "07_model_output" / "certify" / f"{run}.npz" / version / f"{run}.npz"
    return _load_pair(folder / version / f"{run}.json", examples, name, version)


def bootstrap_settings(root: Path, env: str | None = None, params_file: Path | None = None) -> Bootstrap:
    """``report.bootstrap`` as the report reads it: conf/base/parameters_report.yml, then ``env``'s (its keys win)."""
    conf = next((c / "conf" for c in (root, root.parent) if (c / "conf" / "base").is_dir()), None)
    files = [params_file] if params_file else []
    if not files and conf is not None:
        files = [conf / "base" / "parameters_report.yml"] + ([conf / env / "parameters_report.yml"] if env else [])
    settings: dict = {}
    for file in files:
        if not file.is_file():
            if file.parent.name == (env or ""):
                continue   # an env without its own report parameters keeps base's
            raise EcgDataError(f"bootstrap settings: {file} is not a file (expected the report's parameters)")
        settings.update(((yaml.safe_load(file.read_text()) or {}).get("report") or {}).get("bootstrap") or {})
    if not settings:
        raise EcgDataError(f"bootstrap settings: no report.bootstrap found for {root} (expected "
                           "conf/base/parameters_report.yml in the project or above the zoo; or pass --params)")
    return Bootstrap.from_params(settings)


# ---- the intervals -----------------------------------------------------------------------------------------------

def evaluation_intervals(evaluation: Evaluation, bootstrap: Bootstrap) -> dict:
    """One evaluation's class-balanced accuracy per grid point (eps, or SNR for a noise curve) and, on an eps grid,
    ACC_robust with their intervals, from its per-beat outcomes as stored (``pred``, a beat wrong clean kept wrong),
    beside the values its metrics stored."""
    out, metrics = evaluation.outcomes, evaluation.metrics
    eps_max = metrics.get("eps_max") if _on_eps(evaluation) else None
    found = robustness_intervals(out.y, out.pred == out.y[None, :], out.grid, bootstrap, eps_max)
    return {"name": evaluation.name, "version": evaluation.version, "n": int(out.y.size), "grid": list(out.grid),
            "grid_param": metrics.get("grid_param", "eps"),
            "curve": found["curve"], "acc_robust": found["acc_robust"],
            "stored_curve": [p.get("balanced_accuracy") for p in metrics["curve"]],
            "stored_acc_robust": metrics.get("acc_robust_balanced")}


def certified_intervals(certificate: Evaluation, bootstrap: Bootstrap) -> dict:
    """The certified bound per eps and its ACC_robust with intervals: the certificate's outcomes scored by the
    attacks' worst-case code as ``worst_case.certified_metrics`` scores them (an uncertified beat is wrong)."""
    record = certificate.metrics
    scored = worst_case({CERTIFY: certificate.outcomes}, record["grid"], record["classes"],
                        eps_max=record.get("eps_max"), bootstrap=bootstrap)
    return _from_scored(scored, certificate.name, certificate.version, record)


def worst_case_intervals(evaluations: Mapping[str, Evaluation], bootstrap: Bootstrap) -> dict:
    """The per-beat worst case over ``evaluations`` with its intervals, as the report's ``worst_cases`` node computes
    it: scored on AutoAttack's beats where it is stored (else the evaluation covering the most beats), on its grid
    and eps_max; evaluations that judged an earlier model of the run than the newest one are left out, as there,
    and so are noise curves over SNR (no eps grid)."""
    from .worst_cases import of_an_earlier_model   # the report's own test of "the same model"

    evaluations = {name: e for name, e in evaluations.items() if _on_eps(e)}
    if not evaluations:
        raise EcgDataError("worst case: none of the evaluations is on an eps grid")
    versions = {name: e.version for name, e in evaluations.items()}
    stale = of_an_earlier_model({name: e.metrics for name, e in evaluations.items()}, versions)
    kept = {name: e for name, e in evaluations.items() if name not in stale}
    reference = REFERENCE if REFERENCE in kept else None
    base = kept[reference or max(kept, key=lambda a: kept[a].outcomes.subset.size)].metrics
    scored = worst_case({name: e.outcomes for name, e in kept.items()}, base["grid"], base["classes"],
                        population=reference, eps_max=base.get("eps_max"), bootstrap=bootstrap)
    found = _from_scored(scored, "worst case over " + ", ".join(kept), "", base)
    found["left_out"] = stale
    return found


def _on_eps(evaluation: Evaluation) -> bool:
    return evaluation.metrics.get("grid_param", "eps") == "eps"


def _as_interval(stored: Mapping) -> Interval:
    return Interval(**{k: stored[k] for k in ("estimate", "low", "high", "level", "resamples")})


def _from_scored(scored: dict, name: str, version: str, metrics: Mapping) -> dict:
    intervals = scored["intervals"]
    return {"name": name, "version": version, "n": scored["n"], "grid": scored["grid"],
            "curve": [_as_interval(d) for d in intervals["curve"]],
            "acc_robust": _as_interval(intervals["acc_robust"]) if intervals["acc_robust"] else None,
            "stored_curve": [p.get("balanced_accuracy") for p in metrics.get("curve", [])] if version else None,
            "stored_acc_robust": metrics.get("acc_robust_balanced") if version else None}


def report_worst_case_intervals(root: Path, run: str, report_version: str, bootstrap: Bootstrap) -> dict:
    """The worst case a stored report kept for ``run`` (``worst_cases.json``'s per-beat outcomes), rescored."""
    path = root / "data" / "08_reporting" / "report" / "worst_cases.json" / report_version / "worst_cases.json"
    if not path.is_file():
        raise EcgDataError(f"report {report_version}: no worst cases stored at {path}")
    stored = json.loads(path.read_text())
    if run not in stored:
        raise EcgDataError(f"{path}: no worst case of run {run!r}; it holds {sorted(stored)}")
    case = stored[run]
    if "per_beat" not in case:
        raise EcgDataError(f"{path}: the worst case of {run!r} was stored without its per-beat outcomes "
                           "(key 'per_beat': beats, y, correct); re-run the report on its evaluations")
    _, y, correct = decode_outcomes(case["per_beat"])
    found = robustness_intervals(y, correct, case["grid"], bootstrap, case.get("eps_max"))
    return {"name": f"{run} worst case of report {report_version}", "version": report_version, "n": int(y.size),
            "grid": case["grid"], "curve": found["curve"], "acc_robust": found["acc_robust"],
            "stored_curve": [p["balanced_accuracy"] for p in case["curve"]],
            "stored_acc_robust": case.get("acc_robust_balanced")}


# ---- the command -----------------------------------------------------------------------------------------------

def _shown(interval: Interval, digits: int) -> str:
    return f"{interval.estimate:.{digits}f} [{interval.low:.{digits}f}, {interval.high:.{digits}f}]"


def _agrees(computed: float, stored: float | None, digits: int) -> str:
    if stored is None:
        return ""
    same = abs(computed - float(stored)) < 1e-9
    return f"   stored {float(stored):.{digits + 1}f}" + ("" if same else "   DIFFERS from the outcomes' value")


def lines(found: dict, bootstrap: Bootstrap, digits: int = 3) -> list[str]:
    """The printed block of one result of :func:`evaluation_intervals` (or its peers)."""
    head = f"{found['name']}" + (f" ({found['version']})" if found.get("version") else "")
    out = [f"{head}: {found['n']} beats; {bootstrap.level:.0%} stratified bootstrap over beats, "
           f"{bootstrap.resamples} resamples, seed {bootstrap.seed}"]
    if found.get("left_out"):
        out.append(f"  left out (judged an earlier model of the run): {', '.join(found['left_out'])}")
    stored = found.get("stored_curve") or [None] * len(found["grid"])
    unit = found.get("grid_param", "eps")
    for point, interval, value in zip(found["grid"], found["curve"], stored):
        label = ("clean balanced accuracy" if unit == "eps" and float(point) == 0
                 else f"balanced accuracy at {unit} {float(point):g}")
        out.append(f"  {label:<34}{_shown(interval, digits)}{_agrees(interval.estimate, value, digits)}")
    if found["acc_robust"] is not None:
        out.append(f"  {'ACC_robust (balanced, eq. 8)':<34}{_shown(found['acc_robust'], digits)}"
                   f"{_agrees(found['acc_robust'].estimate, found.get('stored_acc_robust'), digits)}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecg_pipeline.reporting.stored_intervals",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="a Kedro project directory, or a zoo directory (holding <run>/)")
    parser.add_argument("run", help="the run (or zoo entry)")
    parser.add_argument("attacks", nargs="*", help="its evaluations, 'certify' for its certificate (default: every "
                        "stored eps evaluation and the certificate)")
    parser.add_argument("--version", action="append", default=[], metavar="ATTACK=VERSION",
                        help="read this stored version of an evaluation (certify=... for the certificate)")
    parser.add_argument("--report", metavar="VERSION", help="rescore the worst case this stored report kept")
    parser.add_argument("--own-model", action="store_true",
                        help="read the own_model pipeline's judgement; <run> names its split (e.g. mitdb_test); "
                        "--version own_model=<version>")
    parser.add_argument("--env", help="layer conf/<env>/parameters_report.yml over base's bootstrap settings")
    parser.add_argument("--params", type=Path, help="read report.bootstrap from this file instead")
    parser.add_argument("--digits", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        pins = dict(v.split("=", 1) for v in args.version)
        bootstrap = bootstrap_settings(args.root, args.env, args.params)
        if args.report:
            print("\n".join(lines(report_worst_case_intervals(args.root, args.run, args.report, bootstrap),
                                  bootstrap, args.digits)))
            return 0
        own = load_own_model(args.root, args.run, pins.get("own_model")) if args.own_model else None
        names = [a for a in args.attacks if a != CERTIFY] or ([] if args.attacks else
                                                                 [a for a in own if a != CERTIFY] if own else
                                                                 stored_attacks(args.root, args.run))
        evaluations = {a: own[a] if own else load_evaluation(args.root, args.run, a, pins.get(a)) for a in names}
        blocks = [evaluation_intervals(e, bootstrap) for e in evaluations.values()]
        if sum(_on_eps(e) for e in evaluations.values()) > 1:
            blocks.append(worst_case_intervals(evaluations, bootstrap))
        if CERTIFY in args.attacks or not args.attacks:
            certificate = (own.get(CERTIFY) if own else load_certificate(args.root, args.run, pins.get(CERTIFY)))
            if certificate is None and CERTIFY in args.attacks:
                raise EcgDataError(f"{args.run}.{CERTIFY}: no stored certificate under {args.root}")
            if certificate is not None:
                blocks.append(certified_intervals(certificate, bootstrap))
    except (EcgDataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n\n".join("\n".join(lines(b, bootstrap, args.digits)) for b in blocks))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
