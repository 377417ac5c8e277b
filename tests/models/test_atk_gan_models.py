"""ECG-ATK-GAN models: shapes at the paper's 280-sample beats, the blocks of Fig. 2, the smoothed noise
(against scipy), the label conditioning, the published code's discriminator, and the discriminator as an
ordinary classifier that the project's attacks run on."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter1d

from ecg_pipeline.attacks.pgd import pgd
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.models import build_model, model_spec
from ecg_pipeline.models.atk_gan import (CODE_FILTERS, Discriminator, DiscriminatorCode, Generator, ResidualBlock,
                                         SkipDilatedAttention, downsampling_block, gaussian_kernel, smooth_noise,
                                         upsampling_block)

# name -> parameter count at the defaults (280 samples, 4 classes)
PARAMETERS = {"atk_gan_generator": 231_137, "atk_gan_discriminator": 149_543, "atk_gan_discriminator_code": 425_383}


@pytest.mark.parametrize("name", list(PARAMETERS))
def test_parameter_counts_and_spec_round_trip(name):
    model = build_model(name)
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS[name]
    spec = model_spec(model)
    assert spec["name"] == name and model_spec(build_model(name, **spec["config"])) == spec


@pytest.mark.parametrize("name", ["atk_gan_discriminator", "atk_gan_discriminator_code"])
def test_discriminator_heads_and_forward_agree(name):
    torch.manual_seed(0)
    model = build_model(name).eval()
    x = torch.rand(3, 1, 280)
    with torch.no_grad():
        heads = model.heads(x)
        logits = model(x)
        features = model.features(x)
    assert heads.real_fake.shape == (3,) and heads.attack.shape == (3, 2) and heads.arrhythmia.shape == (3, 4)
    torch.testing.assert_close(heads.arrhythmia, logits)
    torch.testing.assert_close(model.head(features), logits)
    torch.testing.assert_close(model(x[:, 0]), logits)  # [n, 280] accepted


def test_discriminator_is_three_regular_and_three_downsampling_blocks():
    model = Discriminator()
    convs = [m for m in model.trunk.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [(c.kernel_size[0], c.stride[0]) for c in convs] == [(3, 1), (4, 2)] * 3
    assert model.features(torch.rand(2, 280)).shape == (2, 128 * 35)


def test_code_discriminator_matches_the_published_layers():
    model = DiscriminatorCode()
    convs = [m for m in model.trunk.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [c.out_channels for c in convs] == list(CODE_FILTERS)
    assert [c.stride[0] for c in convs] == [1, 2] * 4 and {c.kernel_size[0] for c in convs} == {3}
    kinds = [type(m).__name__ for m in model.trunk]
    assert [i for i, k in enumerate(kinds) if k == "Dropout"] == [2, 7, 10]  # after conv layers 2, 6 and 8
    assert model.features(torch.rand(2, 280)).shape == (2, 256 * 18)  # Keras "same": 280 -> 140 -> 70 -> 35 -> 18


def test_blocks_change_length_as_fig_2_says():
    x = torch.rand(2, 8, 70)
    assert downsampling_block(8, 16)(x).shape == (2, 16, 35)
    assert upsampling_block(8, 4)(x).shape == (2, 4, 140)
    assert ResidualBlock(8)(x).shape == x.shape
    sda = SkipDilatedAttention(8)
    assert sda(x).shape == x.shape and sda.gate.dilation == (2,) and sda.gate.kernel_size == (2,)


def test_smoothed_noise_is_scipys_gaussian_filter_away_from_the_edges():
    z = torch.rand(2, 1, 280, generator=torch.Generator().manual_seed(0))
    ours = smooth_noise(z, 3.0).numpy()[:, 0]
    scipy = gaussian_filter1d(z.numpy()[:, 0], sigma=3.0, axis=-1)
    radius = gaussian_kernel(3.0).numel() // 2
    assert radius == 12
    np.testing.assert_allclose(ours[:, radius:-radius], scipy[:, radius:-radius], atol=1e-6)
    assert ours.shape == (2, 280) and ours.std() < 0.4 * z.numpy().std()  # smoothing removes most of the variance


def test_generator_output_is_a_beat_in_0_1_conditioned_on_label_and_noise():
    torch.manual_seed(0)
    g = Generator().eval()
    x = torch.rand(4, 280)
    z = g.noise(4)
    with torch.no_grad():
        out = g(x, torch.tensor([0, 1, 2, 3]), z)
        again = g(x[:, None], torch.tensor([0, 1, 2, 3]), z)
        other_label = g(x, torch.tensor([1, 2, 3, 0]), z)
        other_noise = g(x, torch.tensor([0, 1, 2, 3]))
    assert out.shape == (4, 1, 280) and 0 < out.min() and out.max() < 1
    torch.testing.assert_close(out, again)
    assert (out - other_label).abs().mean() > 1e-4
    assert (out - other_noise).abs().mean() > 1e-4


@pytest.mark.parametrize(
    ("build", "args", "expected"),
    [
        (Discriminator, (torch.zeros(2, 1, 187),), r"expected \[n, 1, 280\]"),
        (DiscriminatorCode, (torch.zeros(2, 2, 280),), r"expected \[n, 1, 280\]"),
        (Generator, (torch.zeros(2, 280), torch.tensor([0, 4])), r"class indices in \[0, 3\]"),
        (Generator, (torch.zeros(2, 280), torch.tensor([0])), r"expected \[2\] class indices"),
    ],
)
def test_bad_input_is_named(build, args, expected):
    with pytest.raises(EcgDataError, match=expected):
        build()(*args)


@pytest.mark.parametrize(("name", "config"), [("atk_gan_generator", {"input_length": 282}),
                                              ("atk_gan_discriminator", {"input_length": 284})])
def test_lengths_the_blocks_cannot_halve_are_refused(name, config):
    with pytest.raises(EcgDataError, match="multiple of"):
        build_model(name, **config)


def test_project_attack_runs_on_the_discriminator():
    """The interface of the deployed classifier: PGD of ``ecg_pipeline.attacks`` on ``forward`` (arrhythmia
    logits) stays in the eps-ball and in [0, 1], and raises the loss of the true class."""
    torch.manual_seed(0)
    model = build_model("atk_gan_discriminator").eval()
    x, y = torch.rand(8, 1, 280), torch.randint(0, 4, (8,))
    x_adv = pgd(model, x, y, 0.01, steps=5, step_size=0.0025, bounds=(0.0, 1.0), seed=0)
    assert (x_adv - x).abs().max() <= 0.01 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    loss = torch.nn.functional.cross_entropy
    with torch.no_grad():
        assert loss(model(x_adv), y) > loss(model(x), y)
