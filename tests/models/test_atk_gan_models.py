"""ECG-ATK-GAN models: shapes at the paper's 280-sample beats, the blocks of Fig. 2, the smoothed noise
(against scipy), the label conditioning (of the generator, and of the discriminator's real/fake score by
projection), the published code's discriminator, and the discriminator as an ordinary classifier that the
project's attacks run on."""

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
DISCRIMINATORS = ["atk_gan_discriminator", "atk_gan_discriminator_code"]
N_FEATURES = {"atk_gan_discriminator": 128 * 35, "atk_gan_discriminator_code": 256 * 18}


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


# ---------------------------------------------- the label-conditioned real/fake score (projection)


@pytest.mark.parametrize("name", DISCRIMINATORS)
def test_conditioned_adds_one_embedding_and_its_spec_round_trips(name):
    model = build_model(name, conditioned=True)
    # the projection's embedding: one n_features vector per class (4), nothing else
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS[name] + 4 * N_FEATURES[name]
    assert model.label_projection.weight.shape == (4, N_FEATURES[name])
    spec = model_spec(model)
    assert spec["config"]["conditioned"] is True and model_spec(build_model(name, **spec["config"])) == spec
    assert build_model(name).model_config["conditioned"] is False and build_model(name).label_projection is None


@pytest.mark.parametrize("name", DISCRIMINATORS)
def test_a_stored_model_without_the_option_still_loads(name):
    """A model stored before the option (its config has no ``conditioned``) rebuilds unconditioned, and its
    weights load strictly: the option adds no weight to an unconditioned model."""
    stored = build_model(name)
    old_config = {k: v for k, v in model_spec(stored)["config"].items() if k != "conditioned"}
    rebuilt = build_model(name, **old_config)
    rebuilt.load_state_dict(stored.state_dict(), strict=True)
    assert not rebuilt.conditioned and set(rebuilt.state_dict()) == set(stored.state_dict())


def test_projection_score_by_hand():
    """Miyato & Koyama 2018 eq. 3: ``psi(phi) + <embed(y), phi>`` on set features, head and embedding."""
    model = Discriminator(input_length=8, n_classes=3, width=1, conditioned=True)  # 4 x 1 = 4 features
    with torch.no_grad():
        model.real_fake_head.weight.copy_(torch.tensor([[0.5, 0.0, 0.0, -1.0]]))
        model.real_fake_head.bias.fill_(0.25)
        model.label_projection.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 1.0, 0], [0, 0, 0, 2.0]]))
        phi = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, -1.0, 0.5, 2.0]])
        # psi: 0.5 - 4 + 0.25 = -3.25 and -2 + 0.25 = -1.75; <e_2, phi_0> = 8, <e_1, phi_1> = -1 + 0.5 = -0.5
        assert model.real_fake_score(phi, torch.tensor([2, 1])).tolist() == [4.75, -2.25]
        assert model.real_fake_score(phi).tolist() == [-3.25, -1.75]   # no labels: psi alone
        # through heads: the same formula on the trunk's features
        model.eval()
        x = torch.rand(2, 1, 8, generator=torch.Generator().manual_seed(0))
        y = torch.tensor([0, 2])
        f = model.features(x)
        by_hand = f @ model.real_fake_head.weight[0] + 0.25 + (model.label_projection.weight[y] * f).sum(1)
        torch.testing.assert_close(model.heads(x, y).real_fake, by_hand)


@pytest.mark.parametrize("name", DISCRIMINATORS)
def test_forward_is_bit_identical_with_and_without_conditioning(name):
    """The same seed builds the same trunk and heads (the zero embedding draws no random number): forward (the
    deployed classifier), the attack head and, before training, the real/fake score are the same bits."""
    torch.manual_seed(0)
    plain = build_model(name).eval()
    after_plain = torch.rand(3)
    torch.manual_seed(0)
    conditioned = build_model(name, conditioned=True).eval()
    assert torch.equal(torch.rand(3), after_plain)   # the global RNG is where the plain model left it
    assert list(conditioned.state_dict()) == [*plain.state_dict(), "label_projection.weight"]
    for (key, p), q in zip(plain.state_dict().items(), conditioned.state_dict().values()):
        assert torch.equal(p, q), key
    x, y = torch.rand(5, 1, 280), torch.tensor([0, 1, 2, 3, 1])
    with torch.no_grad():
        assert torch.equal(plain(x), conditioned(x))
        a, b = plain.heads(x, y), conditioned.heads(x, y)
    assert torch.equal(a.arrhythmia, b.arrhythmia) and torch.equal(a.attack, b.attack)
    assert torch.equal(a.real_fake, b.real_fake)   # the embedding starts at zero


@pytest.mark.parametrize("name", DISCRIMINATORS)
def test_conditioned_score_changes_with_the_label_and_the_unconditioned_does_not(name):
    torch.manual_seed(0)
    plain = build_model(name).eval()
    conditioned = build_model(name, conditioned=True).eval()
    torch.nn.init.normal_(conditioned.label_projection.weight, std=0.01)
    x = torch.rand(4, 1, 280)
    y, other = torch.tensor([0, 1, 2, 3]), torch.tensor([1, 2, 3, 0])
    with torch.no_grad():
        c, c_other, c_none = conditioned.heads(x, y), conditioned.heads(x, other), conditioned.heads(x)
        p, p_other, p_none = plain.heads(x, y), plain.heads(x, other), plain.heads(x)
    assert (c.real_fake - c_other.real_fake).abs().min() > 1e-4        # every beat's score moves with its label
    assert torch.equal(p.real_fake, p_other.real_fake) and torch.equal(p.real_fake, p_none.real_fake)
    # the label reaches the real/fake score only
    assert torch.equal(c.arrhythmia, c_other.arrhythmia) and torch.equal(c.attack, c_other.attack)
    # without labels: psi(phi(x)), the label-free part of the score
    with torch.no_grad():
        torch.testing.assert_close(c_none.real_fake, conditioned.real_fake_head(conditioned.features(x)).squeeze(1))


@pytest.mark.parametrize(
    ("labels", "expected"),
    [(torch.tensor([0, 4]), r"Discriminator: labels .* class indices in \[0, 3\]"),
     (torch.tensor([0]), r"expected \[2\] class indices"),
     (torch.tensor([-1, 0]), r"values in \[-1, 0\]")],
)
@pytest.mark.parametrize("conditioned", [True, False])
def test_bad_labels_for_the_real_fake_score_are_named(labels, expected, conditioned):
    with pytest.raises(EcgDataError, match=expected):
        Discriminator(conditioned=conditioned).heads(torch.zeros(2, 1, 280), labels)


@pytest.mark.parametrize("name", DISCRIMINATORS)
def test_conditioned_must_be_true_or_false(name):
    with pytest.raises(EcgDataError, match=r"conditioned='yes'; expected true .* or false"):
        build_model(name, conditioned="yes")
