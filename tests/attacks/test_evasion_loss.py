"""The detector-evasion loss (ECG-ATK-GAN's adaptive attack) and PGD with it on a real three-head discriminator."""

from __future__ import annotations

import math

import pytest
import torch

from ecg_pipeline.attacks.base import AttackError
from ecg_pipeline.attacks.losses import detector_evasion_loss, loss_per_sample
from ecg_pipeline.attacks.apgd import apgd
from ecg_pipeline.attacks.pgd import pgd
from ecg_pipeline.models import build_model


def test_evasion_loss_by_hand():
    arrhythmia = torch.tensor([[2.0, 0.0, 0.0, 0.0]])
    attack = torch.tensor([[0.0, 1.0]])                      # the head leans towards "attacked"
    y = torch.tensor([0])
    ce_ary = math.log(1 + 3 * math.exp(-2.0))                # -log softmax_0 of (2, 0, 0, 0)
    ce_clean = math.log(1 + math.e)                           # -log softmax_0 of (0, 1)
    assert detector_evasion_loss(arrhythmia, attack, y).item() == pytest.approx(ce_ary - ce_clean)
    two = detector_evasion_loss(arrhythmia.repeat(2, 1), attack.repeat(2, 1), y.repeat(2), reduction="sum")
    assert two.item() == pytest.approx(2 * (ce_ary - ce_clean))


def _discriminator(seed: int = 0):
    torch.manual_seed(seed)
    return build_model("atk_gan_discriminator", input_length=280, n_classes=4, width=4).eval()


def test_pgd_on_the_evasion_loss_pushes_the_detector_towards_clean():
    model = _discriminator()
    with torch.no_grad():  # an arrhythmia head that always says class 0: only the detector term has a gradient
        model.head.weight.zero_()
        model.head.bias.zero_()
        model.attack_head.weight.mul_(100.0)   # a detector sensitive enough to move within eps
    x = torch.rand(16, 280, generator=torch.Generator().manual_seed(0)) * 0.8 + 0.1
    y = torch.zeros(16, dtype=torch.long)
    adv = pgd(model, x, y, 0.1, bounds=(0.0, 1.0), steps=20, step_size=0.01, random_start=False, loss="evasion")
    assert (adv - x).abs().max().item() <= 0.1 + 1e-6 and adv.min() >= 0 and adv.max() <= 1

    def log_clean(beats):
        with torch.no_grad():
            return torch.log_softmax(model.heads(beats).attack, dim=1)[:, 0]

    # the returned iterate is the highest-loss one from x itself: never less "clean", and here clearly more
    assert (log_clean(adv) >= log_clean(x) - 1e-6).all()
    assert log_clean(adv).mean() > log_clean(x).mean() + 0.01
    # the plain CE has no gradient on this head (constant logits): PGD leaves the detector where it was
    plain = pgd(model, x, y, 0.1, bounds=(0.0, 1.0), steps=20, step_size=0.01, random_start=False, loss="ce")
    assert log_clean(plain).mean() < log_clean(adv).mean()
    # APGD on the same loss: also never misclassifies here, and moves the detector towards clean too
    moved = apgd(model, x, y, 0.1, bounds=(0.0, 1.0), steps=20, loss="evasion")
    assert (moved - x).abs().max().item() <= 0.1 + 1e-6
    assert log_clean(moved).mean() > log_clean(x).mean() + 0.01


def test_the_evasion_loss_needs_the_heads():
    model = build_model("kachuee_cnn", input_length=280, n_classes=4)
    x, y = torch.rand(2, 280), torch.zeros(2, dtype=torch.long)
    with pytest.raises(AttackError, match="loss 'evasion' is a loss on the heads of a three-head discriminator"):
        pgd(model, x, y, 0.01, loss="evasion")
    with pytest.raises(AttackError, match="loss must be one of"):
        pgd(model, x, y, 0.01, loss="evade")
    with pytest.raises(AttackError, match="loss 'evasion' is an untargeted loss on the heads"):
        apgd(model, x, y, 0.01, loss="evasion")
    with pytest.raises(AttackError, match="targeted=True"):
        apgd(_discriminator(), x, y, 0.01, loss="evasion", targeted=True)
    assert getattr(loss_per_sample("evasion"), "on_heads", False)
