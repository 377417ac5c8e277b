"""Fourier partitioning of the input, Wiedeman & Wang (seed 004), section 5.4 and Fig. 2.

Two complementary binary masks over the spectrum, alternating bands (10 in the authors' code): part 0
keeps bands 0, 2, 4, ... (the lowest band included), part 1 keeps the others. A signal is filtered by
FFT, multiply, inverse FFT; the masks sum to one at every frequency, so the two parts sum to the signal
(an all-pass filter). The filter is a differentiable input stage of the model, applied at training and at
inference, so every attack differentiates through it.

Bands follow the authors' code: the one-sided spectrum of a length-``n`` signal, bins ``0 .. n // 2``, is
cut into ``bands`` runs of ``(n // 2) // bands`` bins, the Nyquist bin (and any remainder) joining the last
band. The code builds the two-sided mask and takes the real part of the inverse FFT; with a symmetric mask
that equals the one-sided ``irfft`` used here.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecg_pipeline.errors import EcgDataError

from .registry import build_model, register_model


def band_masks(length: int, bands: int = 10) -> torch.Tensor:
    """The two complementary 0/1 masks over the ``length // 2 + 1`` one-sided frequency bins, [2, bins]."""
    if isinstance(bands, bool) or not isinstance(bands, int) or bands < 2:
        raise EcgDataError(f"Fourier partitioning needs an integer band count >= 2, got {bands!r}", key="bands")
    half = length // 2
    if half < bands:
        raise EcgDataError(f"Fourier partitioning: {bands} bands do not fit the {half + 1} frequency bins of a "
                           f"{length}-sample input", key="bands")
    width = half // bands
    band = torch.clamp(torch.arange(half + 1) // width, max=bands - 1)
    first = (band % 2 == 0).to(torch.float32)
    return torch.stack([first, 1 - first])


def check_partition(masks: torch.Tensor) -> None:
    """Masks must be 0/1 and sum to one at every bin (together they pass the whole spectrum, once)."""
    binary = bool(((masks == 0) | (masks == 1)).all())
    if not binary or not torch.equal(masks.sum(0), torch.ones_like(masks[0])):
        raise EcgDataError("Fourier masks must be 0/1 and partition the spectrum (sum to 1 at every frequency bin)")


def fourier_filter(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x`` filtered along its last axis by a one-sided frequency mask (FFT, multiply, inverse FFT)."""
    spectrum = torch.fft.rfft(x, dim=-1)
    return torch.fft.irfft(spectrum * mask.to(x.device), n=x.shape[-1], dim=-1).to(x.dtype)


@register_model("fourier")
class FourierPartitioned(nn.Module):
    """A registry model whose input first passes the Fourier part ``part`` of ``bands`` alternating bands.

    Args:
        model: the inner model, ``{"name": <registry name>, **its config}``.
        length: input length in samples (187 for MIT-BIH beats, 18,000 for CinC 2017 records).
        bands: number of alternating bands (authors' code: 10).
        part: 0 (lowest band kept) or 1 (the complement).

    ``features``/``head``/``uses_mask`` are the inner model's, on the filtered input, so the decorrelation
    objective and every attack see the deployed member.
    """

    input_stage = True  # registry.check_mask_use judges it by the model it wraps

    def __init__(self, model: dict[str, Any] | None = None, length: int = 187, bands: int = 10, part: int = 0) -> None:
        super().__init__()
        if not isinstance(model, dict) or "name" not in model:
            raise EcgDataError(f"fourier model: 'model' must be a mapping with the inner model's 'name', got {model!r}",
                               key="model")
        if part not in (0, 1):
            raise EcgDataError(f"fourier model: part must be 0 or 1, got {part!r}", key="part")
        masks = band_masks(length, bands)
        check_partition(masks)
        self.inner = build_model(**model)
        self.register_buffer("mask", masks[part], persistent=False)
        self.length, self.part = length, part
        self.uses_mask = getattr(self.inner, "uses_mask", False)
        self.model_config = {"model": dict(model), "length": length, "bands": bands, "part": part}

    @property
    def head(self) -> nn.Module:
        return self.inner.head

    def filtered(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.length:
            raise EcgDataError(f"fourier model: expected inputs of {self.length} samples, got {x.shape[-1]}")
        return fourier_filter(x, self.mask)

    def features(self, x: torch.Tensor, *mask: torch.Tensor) -> torch.Tensor:
        return self.inner.features(self.filtered(x), *mask)

    def forward(self, x: torch.Tensor, *mask: torch.Tensor) -> torch.Tensor:
        return self.inner(self.filtered(x), *mask)
