"""Where and how torch runs: device choice and intra-op thread count."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from ecg_pipeline.errors import EcgDataError


def resolve_device(device: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU. Anything else is passed to torch.device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as err:
        raise EcgDataError(f"device={device!r}: {err}") from None


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` intra-op CPU threads (None: leave torch's setting), restoring it afterwards.

    The MIT-BIH models are so small that each op is a few microseconds of work: splitting it over
    threads costs more in synchronisation than it saves, and on a shared or busy machine two threads
    were measured 10x slower per training step than one. Large models (CPSC ResNet) want more.
    """
    if n is None:
        yield
        return
    if not isinstance(n, int) or n < 1:
        raise EcgDataError(f"num_threads must be a positive integer or null, got {n!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
