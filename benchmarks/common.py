"""What the attack benchmarks share: real MIT-BIH beats and a quickly trained Kachuee CNN to attack."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ecg_pipeline.data.balance import cap_per_class, upsample
from ecg_pipeline.data.beats import segment_beats
from ecg_pipeline.data.mitdb import read_mitdb
from ecg_pipeline.data.splits import split_beats
from ecg_pipeline.models.kachuee_cnn import KachueeCNN

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def prepare(data: Path, batch: int, epochs: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor, dict]:
    info = {}
    t = time.perf_counter()
    beats = segment_beats(read_mitdb(data / "mitdb"), scheme="kachuee")
    parts = split_beats(cap_per_class(beats, 3000, seed=0), seed=0)
    train = upsample(parts["train"], seed=0)
    test = cap_per_class(parts["test"], batch // 5 + 40, seed=0)
    order = np.random.default_rng(0).permutation(test["y"].shape[0])[:batch]
    x_train = torch.from_numpy(train["x"][:, None, :].astype(np.float32))
    y_train = torch.from_numpy(train["y"].astype(np.int64))
    x = torch.from_numpy(test["x"][order][:, None, :].astype(np.float32))
    y = torch.from_numpy(test["y"][order].astype(np.int64))
    info["data s"] = time.perf_counter() - t

    t = time.perf_counter()
    torch.manual_seed(0)
    model = KachueeCNN()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(y_train), generator=gen)
        for i in range(0, len(perm), 128):
            idx = perm[i : i + 128]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x_train[idx]), y_train[idx]).backward()
            opt.step()
    model.eval()
    info["train s"] = time.perf_counter() - t
    info["train beats"] = len(y_train)
    info["test classes"] = np.bincount(y.numpy(), minlength=5).tolist()
    return model, x, y, info


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.inference_mode():
        return (model(x).argmax(1) == y).float().mean().item()
