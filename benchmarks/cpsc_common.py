"""What the CPSC 2018 benchmarks share: the declared runs' objectives, real padded batches of 64 from the
shared 20-record sample, one timed training step, and the size of the full study (seed 001 protocol)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ecg_pipeline.data.batches import Batches
from ecg_pipeline.data.cpsc2018 import pad_cpsc2018, read_cpsc2018, read_cpsc2018_reference
from ecg_pipeline.defenses import TrainingConfig
from ecg_pipeline.defenses.objectives import build_objective
from ecg_pipeline.defenses.trainer import build_optimizer, descend
from ecg_pipeline.models import build_model
from ecg_pipeline.pipelines.declaration import RUN_KEYS, read_declaration

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
RUNS = ("ce_cpsc", "nsr_cpsc", "jacob_cpsc", "adv_cpsc")


def base_parameters() -> dict:
    """conf/base's merged parameters (the study as declared, without any env's overrides)."""
    from ecg_pipeline.config_loader import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS

    return CONFIG_LOADER_CLASS(conf_source=str(ROOT / "conf"), env="base",
                               **{**CONFIG_LOADER_ARGS, "default_run_env": "base"})["parameters"]


def run_config(run: str) -> TrainingConfig:
    """``runs.<run>`` of conf/base, exactly as the training node reads it (validated by the declaration)."""
    parameters = base_parameters()
    declaration = read_declaration(parameters)
    return TrainingConfig.from_params(parameters["runs"][run], declaration.runs[run].section, ignore=RUN_KEYS)


def sample_batches(data: Path, batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One class-balanced batch of ``batch`` real records of the shared sample (repeated as the balanced
    sampler repeats them), padded and randomly placed with conf/base's parameters, as training sees them."""
    params = base_parameters()["padding_masking"]["cpsc2018"]["pad"]
    table = read_cpsc2018(data / "cpsc2018", require_all=False)
    padded = pad_cpsc2018(table, **params, placement="random")
    batches = Batches(padded, max_shift=params["max_shift"], balanced=True)
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    rows = []
    while sum(len(r[1]) for r in rows) < batch:
        rows += list(batches.epoch(batch, generator=gen, rng=rng))
    x = torch.cat([r[0] for r in rows])[:batch]
    y = torch.cat([r[1] for r in rows])[:batch]
    mask = torch.cat([r[2] for r in rows])[:batch]
    return x, y, mask


def study_size(data: Path) -> dict[str, int]:
    """The full study's counts from the real REFERENCE.csv and conf/base: training records per class after
    the split, batches per balanced epoch, epochs, test and validation records."""
    params = base_parameters()
    split = params["padding_masking"]["cpsc2018"]["split"]
    reference = read_cpsc2018_reference(data / "cpsc2018" / "REFERENCE.csv")
    single = reference[reference["n_labels"] == 1]
    counts = single["labels"].str[0].value_counts()
    held = split["val_per_class"] + split["test_per_class"]
    train_counts = counts - held
    config = run_config("nsr_cpsc")
    epoch = int(train_counts.max()) * len(train_counts)
    return {"records": len(reference), "single_label": len(single), "train": int(train_counts.sum()),
            "largest_class": int(train_counts.max()), "balanced_epoch": epoch,
            "batch_size": config.batch_size, "batches_per_epoch": -(-epoch // config.batch_size), "epochs": config.epochs,
            "warm_up_epochs": int(config.objective.get("start_epoch", 1)) - 1,
            "test": split["test_per_class"] * len(counts), "validation": split["val_per_class"] * len(counts)}


def build(run: str, width: int | None, device: torch.device):
    config = run_config(run)
    model_args = dict(config.model)
    name = model_args.pop("name")
    if width is not None:
        model_args["width"] = width
    torch.manual_seed(0)
    model = build_model(name, **model_args).to(device)
    objective_args = config.objective_params()
    objective = build_objective(objective_args.pop("name"), **objective_args)
    opt = build_optimizer(config.optimizer, model.parameters(), lr=config.lr, **(config.optimizer_args or {}))
    return config, model, objective, opt


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(model, objective, opt, x, y, mask, *, epoch: int, steps: int, device: torch.device,
               deadline: float | None = None) -> tuple[list[float], list[float]]:
    """Wall and process-CPU seconds of each of ``steps`` trainer steps (objective at ``epoch``, then ``descend``),
    after one warm-up step; fewer (at least one) once ``time.perf_counter()`` passes ``deadline``."""
    weights = [p for p in model.parameters() if p.requires_grad]
    model.train()
    wall, cpu = [], []
    for i in range(steps + 1):
        sync(device)
        t, c = time.perf_counter(), time.process_time()
        loss, _, _ = objective(model, x, y, mask, epoch)
        descend(loss, opt, weights)
        loss.item()
        sync(device)
        if i:
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            if deadline is not None and time.perf_counter() > deadline:
                break
    return wall, cpu
