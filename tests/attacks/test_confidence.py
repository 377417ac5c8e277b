"""``confidence`` of the sign-ascent attacks (pgd, bim, fgsm, cw_linf, sap): the finishing line of each beat, for
the full-confidence examples of transfer studies (issue 24). Real MIT-BIH beats, the shared small trained MLP.

The reference is the plain textbook loop on the whole batch (no early exit, no compaction, no cycle check),
recording every iterate: which iterate each setting must return follows from that path alone."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ecg_pipeline.attacks.base import feasible_box, margin
from ecg_pipeline.attacks.bim import bim
from ecg_pipeline.attacks.cw import cw_linf
from ecg_pipeline.attacks.fgsm import fgsm
from ecg_pipeline.attacks.pgd import pgd
from ecg_pipeline.attacks.sap import sap
from ecg_pipeline.errors import EcgAttackError

EPS, STEPS, STEP = 0.03, 20, 0.003
BOUNDS = (0.0, 1.0)


def textbook_path(model, x, y, *, eps=EPS, steps=STEPS, step=STEP):
    """Every iterate x^0 = x .. x^steps of BIM (sign steps on the summed CE, projected), and per iterate and beat
    the CE loss, the misclassification margin max_{j != y} z_j - z_y and whether it is misclassified."""
    low, high = feasible_box(x, eps, None, BOUNDS)
    path = [x.clamp(low, high)]
    for _ in range(steps):
        xa = path[-1].clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(xa), y, reduction="sum"), xa)
        path.append(torch.add(path[-1], grad.sign(), alpha=step).clamp(low, high))
    path = torch.stack(path)
    with torch.no_grad():
        logits = model(path.flatten(0, 1)).unflatten(0, path.shape[:2])
    labels = y.expand(path.shape[0], -1)
    loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none").view(labels.shape)
    over = -margin(logits.flatten(0, 1), labels.flatten()).view(labels.shape)
    return path, loss, over, logits.argmax(-1) != labels


def chosen_iterate(loss, over, fooled, confidence: float) -> torch.Tensor:
    """Per beat, the index of the iterate the rule returns: the first misclassified by ``confidence`` (0: at all),
    else the strongest by (misclassified, loss), the first of equals."""
    out = []
    for i in range(loss.shape[1]):
        reached = fooled[:, i] & (over[:, i] >= confidence) if confidence else fooled[:, i]
        if reached.any():
            out.append(int(reached.nonzero()[0]))
            continue
        candidates = fooled[:, i] if fooled[:, i].any() else torch.ones_like(fooled[:, i])
        ranked = torch.where(candidates, loss[:, i], torch.tensor(-math.inf))
        out.append(int((ranked == ranked.max()).nonzero()[0]))
    return torch.tensor(out)


@pytest.fixture(scope="module")
def path(trained_mlp, data):
    x, y = data
    return textbook_path(trained_mlp, x, y)


@pytest.mark.parametrize("confidence", [0.0, 2.0, math.inf])
def test_each_confidence_returns_the_iterate_its_rule_picks_on_the_textbook_path(trained_mlp, data, path, confidence):
    x, y = data
    iterates, loss, over, fooled = path
    expected = iterates[chosen_iterate(loss, over, fooled, confidence), torch.arange(len(y))]
    got = bim(trained_mlp, x, y, EPS, bounds=BOUNDS, steps=STEPS, step_size=STEP, confidence=confidence)
    assert torch.equal(got, expected)
    # the default is confidence 0: today's rule, the first misclassified iterate
    if confidence == 0:
        assert torch.equal(bim(trained_mlp, x, y, EPS, bounds=BOUNDS, steps=STEPS, step_size=STEP), got)


def test_with_confidence_k_a_returned_beat_reached_k_or_no_iterate_of_its_path_did(trained_mlp, data, path):
    x, y = data
    _, _, over, fooled = path
    k = 2.0
    got = bim(trained_mlp, x, y, EPS, bounds=BOUNDS, steps=STEPS, step_size=STEP, confidence=k)
    with torch.no_grad():
        returned = -margin(trained_mlp(got), y)
    short = returned < k
    assert (~short).sum() > 0 and short.sum() > 0   # both kinds occur at this eps: the test can fail
    assert not (fooled & (over >= k))[:, short].any()   # ran every step without reaching k
    # and a beat misclassified somewhere on its path is returned misclassified, as at confidence 0
    assert (returned[fooled.any(0)] > 0).all()


def test_full_confidence_never_has_lower_source_loss_than_the_first_misclassified_iterate(trained_mlp, data):
    x, y = data
    settings = dict(bounds=BOUNDS, seed=3, steps=STEPS)   # one restart: a later one starts where the rows left differ
    first = pgd(trained_mlp, x, y, EPS, **settings)
    full = pgd(trained_mlp, x, y, EPS, **settings, confidence=math.inf)
    with torch.no_grad():
        loss_first = F.cross_entropy(trained_mlp(first), y, reduction="none")
        loss_full = F.cross_entropy(trained_mlp(full), y, reduction="none")
        fooled_first = trained_mlp(first).argmax(1) != y
        fooled_full = trained_mlp(full).argmax(1) != y
    assert (loss_full >= loss_first).all()
    assert (loss_full - loss_first)[fooled_first].median() > 0.3   # pushed well past the boundary (measured ~1)
    assert torch.equal(fooled_full, fooled_first)   # the same beats fooled on the source: only how far differs
    assert (full - x).abs().max() <= EPS + 1e-6


def test_cw_with_full_confidence_ascends_the_margin_past_the_hinge(trained_mlp, data):
    x, y = data
    settings = dict(bounds=BOUNDS, steps=STEPS, step_size=STEP)
    with torch.no_grad():
        plain = -margin(trained_mlp(cw_linf(trained_mlp, x, y, EPS, **settings)), y)
        raised = -margin(trained_mlp(cw_linf(trained_mlp, x, y, EPS, **settings, confidence=1.5)), y)
        full = -margin(trained_mlp(cw_linf(trained_mlp, x, y, EPS, **settings, confidence=math.inf)), y)
    fooled = plain > 0
    assert fooled.float().mean() > 0.2
    # kappa 0: the hinge is flat once misclassified, so the first misclassified iterate is kept, margin near 0
    assert plain[fooled].median() < 0.5
    # confidence 1.5 raises the hinge: a fooled beat stops at margin 1.5 or stalls below it after every step
    assert (raised[fooled] >= 1.5).float().mean() > 0.5
    assert (full >= plain).all() and full[fooled].median() > raised[fooled].median()


def test_fgsm_at_full_confidence_steps_the_beats_the_source_already_gets_wrong(trained_mlp, data):
    x, y = data
    with torch.no_grad():
        wrong = trained_mlp(x).argmax(1) != y
    assert wrong.any()
    first = fgsm(trained_mlp, x, y, 0.01, bounds=BOUNDS)
    full = fgsm(trained_mlp, x, y, 0.01, bounds=BOUNDS, confidence=math.inf)
    moved = lambda a: (a != x).flatten(1).any(1)  # noqa: E731
    assert not moved(first)[wrong].any()          # their first misclassified iterate is x itself
    assert moved(full)[wrong].float().mean() > 0.9
    # on the beats it gets right, one step gives nothing to choose between: the same beats as at confidence 0
    assert torch.equal(full[~wrong], first[~wrong])


def test_sap_at_full_confidence_pushes_fooled_beats_further(trained_mlp, data):
    x, y = data
    settings = dict(bounds=BOUNDS, pgd_steps=5, steps=10)
    first = sap(trained_mlp, x, y, EPS, **settings)
    full = sap(trained_mlp, x, y, EPS, **settings, confidence=math.inf)
    with torch.no_grad():
        over_first, over_full = (-margin(trained_mlp(a), y) for a in (first, full))
    fooled = over_first > 0
    assert fooled.float().mean() > 0.2
    assert over_full[fooled].median() > over_first[fooled].median() + 1.0
    assert (full - x).abs().max() <= EPS + 1e-6 and (full >= 0).all() and (full <= 1).all()


class CountingMLP(torch.nn.Module):
    """The shared MLP, counting its forward passes: a refused value must cost none."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


@pytest.mark.parametrize("attack", [pgd, bim, fgsm, cw_linf, sap])
@pytest.mark.parametrize("bad", [-0.5, math.nan, "high", True, None])
def test_a_bad_confidence_is_refused_naming_it_before_any_forward_pass(trained_mlp, data, attack, bad):
    x, y = data
    model = CountingMLP(trained_mlp)
    with pytest.raises(EcgAttackError, match=r"confidence must be a number >= 0 or \.inf"):
        attack(model, x[:4], y[:4], EPS, bounds=BOUNDS, confidence=bad)
    assert model.calls == 0


def test_confidence_needs_the_sign_variant(trained_mlp, data):
    from ecg_pipeline.attacks.registry import check_attack_params
    from ecg_pipeline.errors import EcgConfigError

    x, y = data
    with pytest.raises(EcgAttackError, match="confidence .* needs the sign variant"):
        pgd(trained_mlp, x[:4], y[:4], EPS, variant="nsr_adamax", confidence=1.0)
    with pytest.raises(EcgConfigError, match=r"'attacks\.pgd\.params': confidence needs variant: sign"):
        check_attack_params("pgd", {"variant": "nsr_adamax", "confidence": 1.0}, "attacks.pgd.params")
    check_attack_params("pgd", {"confidence": math.inf}, "attacks.pgd.params")   # YAML .inf is accepted
    with pytest.raises(EcgConfigError, match=r"'attacks\.bim\.params\.confidence': expected a number >= 0"):
        check_attack_params("bim", {"confidence": -1}, "attacks.bim.params")
