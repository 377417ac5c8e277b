"""The main job's MLPs (``ce_mlp``, ``nsr_mlp``), trained for a few epochs at their fixed seed, against values stored
for this platform: a silent change of the data code, the trainer, the objectives or their configuration is caught.

Float training is bit-exact only on the same platform (torch's CPU kernel set, the CPU vendor, which decides MKL's
code path, torch and numpy versions: docs/reproducibility.md), so the stored values are keyed by a platform signature; on a platform with no stored
values the test skips, naming both signatures. Record (or re-record, after a deliberate change) this platform's:

    ECG_RECORD_REPRO=1 python -m pytest -n 0 tests/reproducibility

What is compared, per run: the train loss of each epoch, a float64 weight checksum, the clean balanced accuracy on a
fixed real test subset, and the training subset's data fingerprint (which tells a data change from a training one).
Single-threaded training on one platform is deterministic: the comparison is exact (:data:`TOLERANCE`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from ecg_pipeline.data.balance import cap_per_class, upsample
from ecg_pipeline.data.beats import segment_beats
from ecg_pipeline.data.mitdb import read_mitdb
from ecg_pipeline.data.splits import split_beats
from ecg_pipeline.defenses.config import TrainingConfig
from ecg_pipeline.defenses.fit import data_fingerprint, fit
from ecg_pipeline.evaluation.metrics import classification_metrics

STORED = Path(__file__).with_name("main_mlps.json")
RUNS = ("ce_mlp", "nsr_mlp")
#: Records with every AAMI class (N 100, V 119, V/F 208, F 213, Q 217, S 232), a few hundred beats per class.
RECORDS = ["100", "119", "208", "213", "217", "232"]
PER_CLASS = 300   # training beats per class after the seeded cap, before upsampling
EPOCHS = 3
#: Largest allowed difference on the same platform (single-threaded training there is bit-exact).
TOLERANCE = 0.0


def cpu_model() -> str:
    """The CPU's model name (Linux), else the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def cpu_vendor() -> str:
    """GenuineIntel, AuthenticAMD... (Linux; else the architecture): MKL picks its sgemm code path by vendor, and a
    different path trains different weights (docs/reproducibility.md), so it is part of the platform."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def platform_signature() -> str:
    """torch version, torch's CPU kernel set and the CPU vendor (MKL's path), numpy version."""
    return (f"torch {torch.__version__}, cpu {torch.backends.cpu.get_cpu_capability()} {cpu_vendor()}, "
            f"numpy {np.__version__}")


@pytest.fixture(scope="module")
def subset(shared_data):
    """Train (capped, upsampled) and test beats of :data:`RECORDS`, through the data code the main job runs."""
    beats = segment_beats(read_mitdb(shared_data / "mitdb", records=RECORDS), scheme="kachuee")
    parts = split_beats(beats, seed=0)
    return upsample(cap_per_class(parts["train"], PER_CLASS, seed=0), seed=0), cap_per_class(parts["test"], 100, seed=0)


def run_config(project_root: Path, run: str) -> TrainingConfig:
    """The run as conf/base declares it, for :data:`EPOCHS` epochs on one CPU thread, without checkpoints."""
    declared = yaml.safe_load((project_root / "conf/base/parameters_training.yml").read_text())["runs"][run]
    names = {f.name for f in dataclasses.fields(TrainingConfig)} - {"section"}
    config = {k: v for k, v in declared.items() if k in names}
    config.update(epochs=EPOCHS, progress=False, num_threads=1, checkpoint_every_s=0, device="cpu")
    return TrainingConfig(**config, section=run)


def checksum(model: torch.nn.Module) -> float:
    """Sum over the weights of w_i * (1 + i mod 7) in float64: moves with any weight, and with a permutation."""
    total = 0.0
    for weight in model.state_dict().values():
        w = weight.detach().double().reshape(-1)
        total += float((w * (1 + torch.arange(w.numel(), dtype=torch.float64) % 7)).sum())
    return total


def measure(project_root: Path, subset) -> dict:
    train, test = subset
    out = {}
    for run in RUNS:
        model, _, history = fit(run_config(project_root, run), train, None, checkpoints=None, run_name=run)
        with torch.inference_mode():
            pred = model(torch.from_numpy(test["x"][:, None, :].astype(np.float32))).argmax(1).numpy()
        out[run] = {"train_loss": [row["train_loss"] for row in history], "weight_checksum": checksum(model),
                    "test_balanced_accuracy": classification_metrics(test["y"], pred, 5)["balanced_accuracy"],
                    "data_fingerprint": data_fingerprint(train), "n_train": int(len(train["y"])),
                    "n_test": int(len(test["y"]))}
    return out


def test_main_mlps_reproduce_the_stored_values_on_this_platform(project_root, subset):
    signature = platform_signature()
    stored = json.loads(STORED.read_text()) if STORED.exists() else {}
    if os.environ.get("ECG_RECORD_REPRO") != "1" and signature not in stored:
        pytest.skip(f"no stored values for this platform ({signature}); stored: {sorted(stored) or 'none'}. Record "
                    f"them with: ECG_RECORD_REPRO=1 python -m pytest -n 0 tests/reproducibility")
    measured = measure(project_root, subset)
    if os.environ.get("ECG_RECORD_REPRO") == "1":
        stored[signature] = {"machine": cpu_model(), "threads": 1,
                             "python": platform.python_version(), **measured}
        STORED.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
        return
    expected = stored[signature]
    for run in RUNS:
        want, got = expected[run], measured[run]
        assert got["data_fingerprint"] == want["data_fingerprint"], (
            f"{run}: the training subset changed (data code or its parameters); if intended, re-record with "
            f"ECG_RECORD_REPRO=1")
        for key in ("train_loss", "weight_checksum", "test_balanced_accuracy"):
            np.testing.assert_allclose(got[key], want[key], rtol=0, atol=TOLERANCE,
                                       err_msg=f"{run} {key} moved on the same platform ({signature}): a change of "
                                               f"the trainer, objective, model or configuration. If intended, "
                                               f"re-record with ECG_RECORD_REPRO=1")
