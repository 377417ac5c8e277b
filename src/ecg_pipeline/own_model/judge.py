"""The full worst-case evaluation of one model from outside the project, by the project's own code only:

1. the contract against the beats and the model against the contract (:mod:`.contract`, :mod:`.checks`), and
   whether the verifier knows its layers, all before any attack;
2. every attack of ``specs`` (the ``autoattack`` suite with its escalation and masking checks by default) through
   :func:`ecg_pipeline.evaluation.evaluate`;
3. the per-beat worst case over them with stratified-bootstrap intervals, computed by the report's own
   :func:`ecg_pipeline.reporting.worst_cases.worst_cases` (so the row means what the report's rows mean);
4. the certified lower bound (:func:`ecg_pipeline.verification.certify_grid`, on the attacks' beats, grid and
   bounds) where the verifier supports the model; where it does not, the reason is recorded, not raised;
5. one headline row (:func:`ecg_pipeline.reporting.headline.table` with the bracket's columns), and the same
   table with the zoo's stored rows beside it (:func:`zoo_headline`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from ecg_pipeline.errors import EcgConfigError, EcgModelError
from ecg_pipeline.evaluation import AttackSpec, evaluate
from ecg_pipeline.evaluation.evaluate import provenance
from ecg_pipeline.evaluation.intervals import Bootstrap
from ecg_pipeline.evaluation.worst_case import certified_metrics
from ecg_pipeline.reporting import bracket, headline
from ecg_pipeline.reporting.spec import ModelRun, ReportSpec
from ecg_pipeline.reporting.worst_cases import _plain as plain  # the report's JSON conversion, one definition
from ecg_pipeline.reporting.worst_cases import worst_cases
from ecg_pipeline.run_provenance import data_fingerprint
from ecg_pipeline.runtime import torch_threads
from ecg_pipeline.verification.grid import CertifySpec, certify_grid
from ecg_pipeline.verification.grid import check_model as check_verifiable
from ecg_pipeline.zoo.index import default_zoo, read_index

from .checks import check_model
from .contract import InputContract

log = logging.getLogger(__name__)

#: The headline's extra columns: where the row comes from, and the verifier's verdict in words.
SOURCE, CERTIFIED_NOTE, NOTES = "source", "certified lower bound", "notes"


@dataclass
class Judged:
    """Everything one evaluation wrote: per attack its metrics and per-beat outcomes, the worst case, the
    certified result (or why there is none), the bracket and the headline row."""

    name: str
    evaluations: dict[str, dict]
    examples: dict[str, dict[str, np.ndarray]]
    worst_case: dict
    certified: dict
    certified_examples: dict[str, np.ndarray] | None
    bracket: pd.DataFrame
    headline: pd.DataFrame

    def outcomes(self) -> dict[str, np.ndarray]:
        """The per-beat outcomes in one npz: the worst case's beats (``subset``: split indices, ``subset_y``: labels),
        each attack's ``pred_<attack>`` (its grid x its beats ``subset_<attack>``, clean-wrong beats kept wrong)
        and, when certified, ``pred_certify`` and ``certified_outcome`` (1 certified, 0 open, -1 broken)."""
        first = self.examples[self.worst_case["population"]]
        out = {"grid": np.asarray(first["grid"], dtype=np.float64), "subset": first["subset"],
               "subset_y": first["subset_y"], "classes": first["classes"]}
        for attack, examples in self.examples.items():
            out[f"subset_{attack}"], out[f"pred_{attack}"] = examples["subset"], examples["pred"]
            out[f"grid_{attack}"] = np.asarray(examples["grid"], dtype=np.float64)
        if self.certified_examples is not None:
            out["subset_certify"] = self.certified_examples["subset"]
            out["pred_certify"] = self.certified_examples["pred"]
            out["certified_outcome"] = self.certified_examples["outcome"]
        return out

    def metrics(self) -> dict[str, Any]:
        """One JSON: the evaluations, the worst case, the certified result."""
        return plain({"run": self.name, "evaluations": self.evaluations, "worst_case": self.worst_case,
                      "certified": self.certified})


@dataclass
class _InMemory:
    """An evaluation held in memory, in the shape the report reads stored artifacts (``reporting.worst_cases``)."""

    data: Any
    filepath: str = "(in memory)"
    version: str = "in-memory"
    versions: tuple[str, ...] = ("in-memory",)

    def at(self, version: str) -> _InMemory:
        return self


def check_specs(specs: dict[str, AttackSpec]) -> str | None:
    """Refuse attack specs the worst case cannot combine; return the reference attack (the one with the
    gradient-masking diagnostics: its beats are the worst case's, its flags the headline's), if any."""
    if not specs:
        raise EcgConfigError("parameters 'own_model.attacks': no attack; expected e.g. [autoattack]")
    for attack, spec in specs.items():
        if spec.grid_param != "eps" or spec.eps_max is None:
            raise EcgConfigError(f"parameters 'own_model.attacks': {attack!r} has no eps grid with an eps_max; the "
                                 "worst case combines eps evaluations (ACC_robust up to eps_max)")
        if spec.needs_noise or spec.needs_ensemble:
            raise EcgConfigError(f"parameters 'own_model.attacks': {attack!r} needs NSTDB noise or an ensemble's "
                                 "surrogates; an own model is judged by eps attacks on itself")
    return next((a for a, s in specs.items() if s.diagnostics), None)


def judge(model: nn.Module, beats: dict, contract: InputContract, specs: dict[str, AttackSpec], *, name: str,
          split: str, certify: CertifySpec | None = None, bootstrap: Bootstrap = Bootstrap(), label: str | None = None,
          reference: nn.Module | None = None, reference_name: str | None = None, source: str = "",
          uncertified_because: str = "not requested (own_model.certify: false)") -> Judged:
    """Judge ``model`` on ``beats`` (the model-input split ``split``) under ``specs`` (attack name -> spec) and,
    with ``certify``, certify it on the same beats, grid and bounds as the reference attack (without it, the output
    says ``uncertified_because``). Every refusal (contract, model, parameters) happens before the first attack."""
    contract.check_beats(beats, name)
    reference_attack = check_specs(specs)
    check_model(model, contract, beats, name)
    certified, cert_spec = {"supported": False, "reason": uncertified_because}, None
    if certify is not None:
        base = specs[reference_attack or next(iter(specs))]
        cert_spec = dataclasses.replace(certify, grid=base.grid, bounds=base.bounds, eps_max=base.eps_max,
                                        per_class=base.per_class, seed=base.seed)
        try:
            check_verifiable(model, cert_spec, name)
        except EcgModelError as err:  # said in the output, not raised: the attacks still bound it from above
            certified, cert_spec = {"supported": False, "reason": str(err)}, None
    evaluations, examples = {}, {}
    for attack, spec in specs.items():
        ref = reference if spec.transfer_from is not None else None
        evaluations[attack], examples[attack] = evaluate(model, beats, spec, name=f"{name}.{attack}", reference=ref,
                                                         reference_name=reference_name if ref is not None else None)
    run = ModelRun(run=name, label=label or name, data=split, data_title=split, model=type(model).__name__,
                   attacks=tuple(specs), train_command="", split=split, reference=reference_attack)
    combined = worst_cases(ReportSpec(groups=(), attacks=tuple(specs), model_runs=(run,)),
                           {f"{name}.{a}": _InMemory(m) for a, m in evaluations.items()},
                           {f"{name}.{a}": _InMemory(e) for a, e in examples.items()}, bootstrap)[name]
    cert_examples = None
    if cert_spec is not None:
        certified, cert_examples = certified_result(model, beats, cert_spec, name)
    brackets, left_out = (bracket.table({name: certified}, {name: combined}) if cert_examples is not None
                          else (pd.DataFrame(columns=list(bracket.COLUMNS)), {}))
    if left_out:  # same beats by construction: a difference is a bug, never a silent omission
        raise EcgModelError(f"{name}: the certified result is not of the attacks' beats: {left_out[name]}")
    notes = split_notes(model, beats, split)
    for note in notes:
        log.warning("%s: %s", name, note)
    combined["notes"] = notes
    row = headline_rows({name: combined}, brackets, {name: source or name},
                        {name: certified_note(certified, brackets)})
    return Judged(name, evaluations, examples, combined, certified, cert_examples, brackets, row)


def certified_result(model: nn.Module, beats: dict, spec: CertifySpec, name: str) -> tuple[dict, dict]:
    """:func:`certify_grid` on the attacks' beats, its per-beat outcomes scored by the attacks' worst-case code
    (an uncertified beat counts wrong: the certified accuracy, a lower bound), as ``<run>.certify`` stores it."""
    with torch_threads(spec.num_threads):
        record, examples = certify_grid(model, beats, spec, name=f"{name}.certify")
        made_with = provenance(model, beats)
    return plain({"supported": True, "reason": None, "run": name, "attack": "certify",
                  **certified_metrics(record, examples), "provenance": made_with}), examples


def split_notes(model: nn.Module, beats: dict, split: str) -> list[str]:
    """What a reader must know about the beats: a zoo model judged on a ``mitdb_test`` other than the one its stored
    evaluations ran on (another configuration's split, which may hold the model's own training beats)."""
    stored = (getattr(model, "meta", None) or {}).get("zoo_test_fingerprint")
    here = data_fingerprint(beats)
    if stored is None or split != "mitdb_test" or here == stored:
        return []
    return [f"{split} here has fingerprint {here}, the zoo evaluated this model on {stored}: another split "
            "configuration, whose test beats may include beats the model was trained on"]


def certified_note(certified: dict, brackets: pd.DataFrame) -> str:
    if not certified.get("supported"):
        return f"not certified: {certified.get('reason')}"
    return (f"{certified['method']}, {'exact' if certified.get('exact') else 'some beats left open'}; "
            f"{len(brackets)} bracket rows")


def headline_rows(combined: dict[str, dict], brackets: pd.DataFrame, sources: dict[str, str],
                  notes: dict[str, str] | None = None) -> pd.DataFrame:
    """The report's headline table for ``combined`` (run -> worst case), the bracket's columns, the source."""
    table = bracket.headline_columns(headline.table(combined), brackets)
    table.insert(1, SOURCE, [sources.get(run, "") for run in combined])
    table[CERTIFIED_NOTE] = [(notes or {}).get(run, "") for run in combined]
    table[NOTES] = ["; ".join(c.get("notes") or []) for c in combined.values()]
    return table


def zoo_headline(zoo: Path | None = None) -> pd.DataFrame:
    """The zoo's own headline rows, from each entry's stored ``worst_case.json``, with its certified bound where the
    entry stores one (``certified/certify.json``, bracketed as the report does)."""
    zoo = Path(zoo or default_zoo())
    stored, certified = {}, {}
    for entry in sorted(read_index(zoo)["entries"]):
        path = zoo / entry / "worst_case.json"
        if path.is_file():
            stored[entry] = json.loads(path.read_text())
            certificate = zoo / entry / "certified" / "certify.json"
            if certificate.is_file():
                certified[entry] = json.loads(certificate.read_text())
    brackets, left_out = bracket.table(certified, stored, list(stored))
    notes = {e: left_out.get(e, "") if e in certified else "not stored in the zoo" for e in stored}
    return headline_rows(stored, brackets, {e: f"zoo:{e}" for e in stored}, notes)


def beside_the_zoo(judged: Judged, zoo: Path | None = None) -> pd.DataFrame:
    """The zoo's rows, then this model's: one table, each row saying what it is scored on."""
    return pd.concat([zoo_headline(zoo), judged.headline], ignore_index=True)

