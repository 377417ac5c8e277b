"""``ecg_pipeline.prune`` on a real temporary data tree: real ``.npz`` splits, real saved models, a real report
inventory, each in Kedro's versioned layout (``<file>/<version>/<file>``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ecg_pipeline import prune
from ecg_pipeline.datasets.torch_model import TorchModelDataset
from ecg_pipeline.defenses.fit import data_fingerprint
from ecg_pipeline.models import build_model

T = [f"2026-12-0{d}T10.00.00.000Z" for d in range(1, 6)]  # T[0] oldest .. T[4] newest


def _split(seed: int, n: int = 400) -> dict:
    rng = np.random.default_rng(seed)
    return {"x": rng.random((n, 187), dtype=np.float32), "y": rng.integers(0, 5, n)}


def _write(root: Path, rel: str, version: str, write) -> Path:
    name = Path(rel).name
    path = root / rel / version / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path)
    return path


def _model(root: Path, version: str, fingerprint: str | None) -> None:
    torch.manual_seed(0)
    meta = {"run": "ce_mlp", "epochs": 1}
    if fingerprint:
        meta["data_fingerprint"] = fingerprint
    _write(root, "06_models/ce_mlp.pt", version,
           lambda p: TorchModelDataset(filepath=str(p)).save({"model": build_model("mlp"), "meta": meta}))


@pytest.fixture
def tree(tmp_path):
    """Splits written at T0, T2, T4; the model at T1 (trained on T0) and T3 (also trained on T0: a run that used
    an older split); evaluations at T1 and T3; a report at T4 that read the T1 evaluation (an old pin)."""
    root = tmp_path / "data"
    splits = {t: _split(i) for i, t in enumerate((T[0], T[2], T[4]))}
    for t, split in splits.items():
        _write(root, "05_model_input/mitdb_train_balanced.npz", t, lambda p, s=split: np.savez(p, **s))
        _write(root, "05_model_input/mitdb_test.npz", t, lambda p, s=split: np.savez(p, **{k: v[:50] for k, v in s.items()}))
    _model(root, T[1], data_fingerprint(splits[T[0]]))
    _model(root, T[3], data_fingerprint(splits[T[0]]))
    for t in (T[1], T[3]):
        _write(root, "07_model_output/evaluations/ce_mlp/pgd.json", t, lambda p: p.write_text(json.dumps({"accuracy": 0.5})))
    metrics = root / "07_model_output/evaluations/ce_mlp/pgd.json"
    inventory = {"built_at": "x", "inputs": [{"dataset": "ce_mlp.pgd.metrics", "version": T[1],
                                              "filepath": str(metrics)}]}
    _write(root, "08_reporting/report/inventory.json", T[4], lambda p: p.write_text(json.dumps(inventory)))
    (root / "06_models/checkpoints/ce_mlp").mkdir(parents=True)  # unversioned: never touched
    (root / "06_models/checkpoints/ce_mlp/epoch_1.pt").write_bytes(b"0" * 100)
    return root


def _versions(root: Path, rel: str) -> list[str]:
    return sorted(p.name for p in (root / rel).iterdir())


def test_dry_run_by_default_lists_and_keeps_everything(tree, capsys):
    before = sorted(str(p) for p in tree.rglob("*"))
    assert prune.main(["--data", str(tree), "--keep", "1"]) == 0
    out = capsys.readouterr().out
    assert sorted(str(p) for p in tree.rglob("*")) == before
    assert "Dry run: nothing deleted" in out and "would remove" in out
    assert f"05_model_input/mitdb_train_balanced.npz/{T[2]}" in out


def test_keep_newest_and_every_pinned_version(tree, capsys):
    split_bytes = sum(p.stat().st_size for p in (tree / "05_model_input").rglob(f"{T[2]}/*"))
    freed = prune.prune(tree, 1, apply=True)
    out = capsys.readouterr().out
    # the newest version of each dataset stays
    assert _versions(tree, "08_reporting/report/inventory.json") == [T[4]]
    # the report's pinned evaluation (T1) and the model current when it was written (T1) stay
    assert _versions(tree, "07_model_output/evaluations/ce_mlp/pgd.json") == [T[1], T[3]]
    assert _versions(tree, "06_models/ce_mlp.pt") == [T[1], T[3]]
    # both models were trained on the T0 split (fingerprint), with its test split: kept; T2 goes
    assert _versions(tree, "05_model_input/mitdb_train_balanced.npz") == [T[0], T[4]]
    assert _versions(tree, "05_model_input/mitdb_test.npz") == [T[0], T[4]]
    assert freed == split_bytes > 0
    assert "read by the report" in out and "fingerprint" in out and "freeing" in out
    assert (tree / "06_models/checkpoints/ce_mlp/epoch_1.pt").exists()


def test_without_fingerprint_the_newest_split_before_the_model_stays(tree):
    (tree / "08_reporting").joinpath("report/inventory.json", T[4], "inventory.json").write_text('{"inputs": []}')
    for t in (T[1], T[3]):
        import shutil
        shutil.rmtree(tree / "06_models/ce_mlp.pt" / t)
        _model(tree, t, None)
    prune.prune(tree, 1, apply=True, out=lambda *_: None)
    assert _versions(tree, "06_models/ce_mlp.pt") == [T[3]]
    assert _versions(tree, "05_model_input/mitdb_train_balanced.npz") == [T[2], T[4]]  # T2: newest before T3


def test_versions_named_by_a_pinned_result_stay(tree):
    # the pinned T1 evaluation names (in its provenance) the split version it was judged on: T2
    pinned = tree / "07_model_output/evaluations/ce_mlp/pgd.json" / T[1] / "pgd.json"
    pinned.write_text(json.dumps({"accuracy": 0.5, "provenance": {"inputs": {"mitdb_test": T[2]}}}))
    prune.prune(tree, 1, apply=True, out=lambda *_: None)
    assert _versions(tree, "05_model_input/mitdb_test.npz") == [T[0], T[2], T[4]]
    assert _versions(tree, "05_model_input/mitdb_train_balanced.npz") == [T[0], T[2], T[4]]  # same session


def test_protectors_are_extensible_and_protect_by_hand(tree):
    zoo = tree / "05_model_input/mitdb_train_balanced.npz" / T[2]
    prune.prune(tree, 1, apply=True, sources=[prune.report_pins, lambda store: {zoo: "the zoo"}], out=lambda *_: None)
    assert _versions(tree, "05_model_input/mitdb_train_balanced.npz") == [T[0], T[2], T[4]]


def test_protect_option_and_module_entry_point(tree):
    pinned = tree / "05_model_input/mitdb_test.npz" / T[2]
    done = subprocess.run([sys.executable, "-m", "ecg_pipeline.prune", "--data", str(tree), "--keep", "1", "--apply",
                           "--protect", str(pinned)], capture_output=True, text=True, check=True)
    assert "removing 1 version(s)" in done.stdout, done.stdout
    assert _versions(tree, "05_model_input/mitdb_test.npz") == [T[0], T[2], T[4]]
    assert _versions(tree, "05_model_input/mitdb_train_balanced.npz") == [T[0], T[4]]


def test_refuses_keep_zero(tree, capsys):
    assert prune.main(["--data", str(tree), "--keep", "0"]) == 2
    assert "--keep must be at least 1" in capsys.readouterr().err


def test_click_command_for_the_project_cli(tree):
    from click.testing import CliRunner

    result = CliRunner().invoke(prune.prune_command(), ["--data", str(tree), "--keep", "1"])
    assert result.exit_code == 0, result.output
    assert "Dry run: nothing deleted" in result.output
    assert _versions(tree, "05_model_input/mitdb_train_balanced.npz") == [T[0], T[2], T[4]]
