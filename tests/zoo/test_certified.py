"""The zoo's certified bounds (``certified/`` of an entry, :mod:`ecg_pipeline.zoo.certified`): re-certified on the
rebuilt MIT-BIH test split and compared beat for beat; a forged certificate is caught naming its beat and eps.

The re-check here is partial (``certify_beats=64``: the first bound batch of the stored beats, so the same batch as
the stored run, at the eps up to the largest one with a stored certificate): about 2 s of alpha-CROWN after the
rebuild of the test split. The whole certification (1,161 beats x 7 eps, ~25 s on a free core) is left to
``python -m ecg_pipeline.zoo check --attacks certify``."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from ecg_pipeline.errors import EcgConfigError, EcgDataError
from ecg_pipeline.pipelines.declaration.certification import spec_params
from ecg_pipeline.verification.certify import CERTIFIED, UNKNOWN
from ecg_pipeline.zoo import check_zoo, default_zoo, read_index
from ecg_pipeline.zoo.certified import check_partial, spec_from_stamp
from ecg_pipeline.zoo.index import sha256, write_index
from ecg_pipeline.zoo.stamps import certify_spec_params, nested, read_stamp, section

ZOO = default_zoo()
BEATS = 64


@pytest.fixture
def zoo_copy(tmp_path) -> Path:
    copy = tmp_path / "zoo"
    shutil.copytree(ZOO, copy)
    return copy


def stored(entry: str) -> dict[str, np.ndarray]:
    with np.load(ZOO / entry / "certified" / "certify.npz") as arrays:
        return {k: arrays[k] for k in arrays.files}


def stamp_and_metrics(zoo: Path, entry: str) -> tuple[dict, dict]:
    folder = zoo / entry / "certified"
    return read_stamp(folder / "certify.provenance.json")["params"], json.loads((folder / "certify.json").read_text())


def test_the_certified_zoo_entries_hold_their_stored_certificates_again(shared_data):
    lines = []
    outcomes = check_zoo(ZOO, ["ibp_mlp", "trades_mlp"], ["certify"], shared_data, report=lines.append,
                         certify_beats=BEATS)
    assert [(o.entry, o.evaluation) for o in outcomes] == [("ibp_mlp", "certify"), ("trades_mlp", "certify")]
    assert all(o.ok for o in outcomes), "\n".join(lines)
    for outcome in outcomes:   # every stored certificate of the batch, counted from the stored file
        outcome_rows = stored(outcome.entry)["outcome"][:, :BEATS]
        rows = np.flatnonzero((outcome_rows == CERTIFIED).any(axis=1))
        held = int((outcome_rows[: rows[-1] + 1] == CERTIFIED).sum())
        assert held > 100 and f"{held} of {held} stored certificates hold again on {BEATS} beats" in outcome.line


def test_a_forged_certificate_is_a_mismatch_naming_the_beat_and_eps(zoo_copy, shared_data):
    path = zoo_copy / "ibp_mlp" / "certified" / "certify.npz"
    arrays = stored("ibp_mlp")
    grid = list(arrays["grid"])
    g = grid.index(0.03)
    # a beat of the re-checked batch the verifier left clearly open at eps 0.03, certified at 0.01
    open_beats = np.flatnonzero((arrays["outcome"][g, :BEATS] == UNKNOWN)
                                & (arrays["lower_margin"][g, :BEATS] < -0.01)
                                & (arrays["outcome"][g - 1, :BEATS] == CERTIFIED))
    position = int(open_beats[0])
    arrays["outcome"][g, position], arrays["lower_margin"][g, position] = CERTIFIED, 0.5
    np.savez(path, **arrays)
    index = read_index(zoo_copy)   # re-hashed: the comparison, not the hash, must catch it
    index["entries"]["ibp_mlp"]["files"]["certified/certify.npz"] = sha256(path)
    write_index(zoo_copy, index)
    lines = []
    [outcome] = check_zoo(zoo_copy, ["ibp_mlp"], ["certify"], shared_data, report=lines.append, certify_beats=BEATS)
    beat = int(arrays["subset"][position])
    assert not outcome.ok and outcome.line.startswith("MISMATCH ibp_mlp certify: 1 per-beat failures")
    assert re.search(rf"beat {beat} \(record \S+ r_sample \d+\) at eps 0\.03: a certificate that no longer holds "
                     r"\(stored outcome 1, now 0", outcome.line), outcome.line


def test_the_certify_spec_is_the_nodes_merge_of_the_stamp_and_agrees_with_the_stored_result(zoo_copy):
    for entry in ("ibp_mlp", "trades_mlp"):
        params, metrics = stamp_and_metrics(ZOO, entry)
        node = spec_params(nested(section(params, "certify")), nested(section(params, "data.mitdb.attack_defaults")),
                           params[f"runs.{entry}.model.name"])
        assert certify_spec_params(params, entry) == node   # the stamp read back gives the node's merge
        spec = spec_from_stamp(params, entry, metrics)
        assert (spec.method, spec.grid, spec.per_class, spec.eps_max) == ("alpha_crown", tuple(metrics["grid"]), 250,
                                                                          0.1)
    params, metrics = stamp_and_metrics(ZOO, "ibp_mlp")
    with pytest.raises(EcgDataError,
                       match=r"'ibp_mlp'.*differs from the stored result's.*'method': \('alpha_crown', 'crown'\)"):
        spec_from_stamp({**params, "certify.method": "crown"}, "ibp_mlp", metrics)
    # a result stored before a spec key existed (adv_mlp's lacks `nested`) was made at the key's default
    older = {k: v for k, v in metrics.items() if k != "nested"}
    assert spec_from_stamp(params, "ibp_mlp", older).nested is False
    with pytest.raises(EcgDataError, match=r"'nested': \(None, True\)"):
        spec_from_stamp({**params, "certify.nested": True}, "ibp_mlp", older)


def test_a_partial_recheck_that_cannot_be_one_is_refused_before_work(zoo_copy, tmp_path):
    params, metrics = stamp_and_metrics(ZOO, "ibp_mlp")
    spec = spec_from_stamp(params, "ibp_mlp", metrics)
    with pytest.raises(EcgConfigError, match=r"MILP's seeded choice"):
        check_partial(dataclasses.replace(spec, milp_max_beats=5), 64, "ibp_mlp.certify")
    nowhere = tmp_path / "no-data"   # any work would stop on the missing raw data instead
    with pytest.raises(EcgConfigError, match=r"certify beats=0; expected a positive number"):
        check_zoo(zoo_copy, ["ibp_mlp"], ["certify"], nowhere, certify_beats=0)
    with pytest.raises(EcgDataError, match=r"no entry of \['ce_mlp'\] stores an evaluation 'certify'"):
        check_zoo(zoo_copy, ["ce_mlp"], ["certify"], nowhere)
    (zoo_copy / "ibp_mlp" / "certified" / "certify.provenance.json").write_text("{}")
    with pytest.raises(EcgDataError,
                       match=r"ibp_mlp: .*certified/certify\.provenance\.json \(a stored file\) has sha256"):
        check_zoo(zoo_copy, ["ibp_mlp"], ["certify"], nowhere)
