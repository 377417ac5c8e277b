"""Fourier partitioning (seed 004, section 5.4): complementary masks, all-pass sum, a differentiable model stage."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.models import build_model, model_spec
from ecg_pipeline.models.fourier import band_masks, check_partition, fourier_filter


def authors_mask(n: int, bands: int) -> np.ndarray:
    """The authors' two-sided construction for an even length (reference notes), written out independently."""
    bins = [1 - (i % 2) for i in range(bands)]
    width = int(n / 2 / bands)
    half = np.concatenate([b * np.ones(width) for b in bins])
    half = np.append(half, half[-1])
    return np.concatenate([half, np.flip(half[1:-1])])


@pytest.mark.parametrize("n", [18000, 2000])
def test_masks_are_the_authors_alternating_bands(n):
    ours = band_masks(n, 10)
    full = authors_mask(n, 10)
    assert full.shape == (n,)
    np.testing.assert_array_equal(ours[0].numpy(), full[: n // 2 + 1])
    np.testing.assert_array_equal(ours[1].numpy(), 1 - full[: n // 2 + 1])


@pytest.mark.parametrize("n", [187, 280, 18000])
def test_the_two_parts_sum_to_an_all_pass_filter(n):
    masks = band_masks(n, 10)
    check_partition(masks)
    x = torch.randn(4, 1, n, dtype=torch.float64)
    parts = [fourier_filter(x, m) for m in masks]
    torch.testing.assert_close(parts[0] + parts[1], x, rtol=0, atol=1e-10)
    # Neither part alone is the signal: each holds a real share of its energy.
    for p in parts:
        assert 0.05 < float(p.pow(2).sum() / x.pow(2).sum()) < 0.95


def test_a_low_tone_lives_in_part_0_and_a_high_tone_in_part_1():
    n = 1000
    t = torch.arange(n, dtype=torch.float64)
    low, high = torch.sin(2 * torch.pi * 10 * t / n), torch.sin(2 * torch.pi * 460 * t / n)  # bins 10 (band 0) and 460 (band 9)
    m0, m1 = band_masks(n, 10)
    torch.testing.assert_close(fourier_filter(low, m0), low, rtol=0, atol=1e-9)
    assert float(fourier_filter(low, m1).abs().max()) < 1e-9
    torch.testing.assert_close(fourier_filter(high, m1), high, rtol=0, atol=1e-9)


def test_bad_band_counts_and_overlapping_masks_are_refused():
    for bands in (1, 0, True, 2.5):
        with pytest.raises(EcgDataError, match="band count >= 2"):
            band_masks(187, bands)
    with pytest.raises(EcgDataError, match="do not fit"):
        band_masks(10, 10)
    masks = band_masks(187, 10)
    with pytest.raises(EcgDataError, match="partition the spectrum"):
        check_partition(torch.stack([masks[0], torch.ones_like(masks[0])]))


def test_the_model_stage_filters_then_classifies_and_attacks_get_gradients():
    torch.manual_seed(0)
    model = build_model("fourier", model={"name": "kachuee_cnn"}, length=187, bands=10, part=1)
    x = torch.rand(3, 1, 187, requires_grad=True)
    filtered = fourier_filter(x, band_masks(187, 10)[1])
    torch.testing.assert_close(model(x), model.inner(filtered))
    torch.testing.assert_close(model.head(model.features(x)), model(x))
    model(x)[:, 0].sum().backward()
    assert float(x.grad.abs().sum()) > 0
    # The gradient lives in part 1's bands only: part 0's content of it is nil.
    grad_in_part0 = fourier_filter(x.grad, band_masks(187, 10)[0])
    assert float(grad_in_part0.abs().max()) < 1e-6 * float(x.grad.abs().max())


def test_rebuilt_from_its_spec_with_the_same_weights():
    model = build_model("fourier", model={"name": "mlp"}, length=187, part=0)
    spec = model_spec(model)
    assert spec == {"name": "fourier", "config": {"model": {"name": "mlp"}, "length": 187, "bands": 10, "part": 0}}
    again = build_model(spec["name"], **spec["config"])
    again.load_state_dict(model.state_dict())
    assert all(k.startswith("inner.") for k in model.state_dict())
    x = torch.rand(2, 187)
    torch.testing.assert_close(again(x), model(x))


def test_wrong_input_length_and_bad_part_are_refused():
    model = build_model("fourier", model={"name": "mlp"}, length=187)
    with pytest.raises(EcgDataError, match="expected inputs of 187 samples, got 280"):
        model(torch.rand(2, 280))
    with pytest.raises(EcgDataError, match="part must be 0 or 1"):
        build_model("fourier", model={"name": "mlp"}, part=2)


def test_the_mask_check_judges_a_fourier_stage_by_the_model_it_wraps():
    from ecg_pipeline.models.registry import check_mask_use

    # Han et al.'s CNN is built for zero-padded records (CinC 2017): accepted on padded data, bare or behind Fourier
    check_mask_use({"name": "fourier", "model": {"name": "han_cnn"}, "length": 18000}, True, "m")
    check_mask_use("han_cnn", True, "m")
    with pytest.raises(EcgDataError, match=r"^m: the data is padded records with a mask, but model 'kachuee_cnn'"):
        check_mask_use({"name": "fourier", "model": {"name": "kachuee_cnn"}}, True, "m")
    with pytest.raises(EcgDataError, match=r"^m: model 'masked_resnet' expects padded records"):
        check_mask_use({"name": "fourier", "model": {"name": "masked_resnet"}}, False, "m")
