"""A small classifier trained on real MIT-BIH beats, shared by the attack tests.

Trained in the test session (about 2 s): a 187-64-64-5 MLP on a class-capped, seeded subset of
Kachuee beats (the input of the NSR papers). Clean balanced accuracy is well above chance, so
robust accuracy has room to fall.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ecg_pipeline.data.balance import cap_per_class, upsample
from ecg_pipeline.data.splits import split_beats


class SmallMLP(nn.Module):
    def __init__(self, length: int = 187, n_classes: int = 5):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(length, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, n_classes))

    def forward(self, x):
        return self.net(x)


@pytest.fixture(scope="session")
def beat_data(kachuee_beats):
    """(x_train, y_train, x_test, y_test) float32 [n, 1, 187] tensors; test is class-balanced, 100 per class."""
    small = cap_per_class(kachuee_beats, 1500, seed=0)
    parts = split_beats(small, seed=0)
    train = upsample(parts["train"], seed=0)
    test = cap_per_class(parts["test"], 100, seed=0)
    as_x = lambda b: torch.from_numpy(b["x"][:, None, :].copy())  # noqa: E731
    as_y = lambda b: torch.from_numpy(b["y"].copy())  # noqa: E731
    return as_x(train), as_y(train), as_x(test), as_y(test)


@pytest.fixture(scope="session")
def trained_mlp(beat_data):
    x, y, x_test, y_test = beat_data
    torch.manual_seed(0)
    model = SmallMLP()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(8):
        order = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), 256):
            idx = order[i : i + 256]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(x_test).argmax(1) == y_test).float().mean().item()
    assert acc > 0.7, f"test model too weak to test attacks on (clean accuracy {acc:.3f})"
    return model


def accuracy(model, x, y, mask=None) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


@pytest.fixture(scope="module")
def trained_cnn(beat_data):
    """The Kachuee CNN (conv + max-pool, unlike the MLP), one epoch on the shared training beats."""
    from torch import nn

    from ecg_pipeline.models.kachuee_cnn import KachueeCNN

    x, y, _, _ = beat_data
    torch.manual_seed(0)
    model = KachueeCNN()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    for i in range(0, len(y), 128):
        idx = order[i : i + 128]
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small-tensor attacks on a busy 2-core machine: one intra-op thread (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data(beat_data):
    """The shared test beats and labels."""
    _, _, x, y = beat_data
    return x, y
