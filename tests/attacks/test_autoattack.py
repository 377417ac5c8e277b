"""AutoAttack's components: APGD-CE, APGD-T (targeted DLR) and Square, L-inf.

Real data: the shared MLP trained on MIT-BIH beats (conftest) and a Kachuee CNN trained here for one
epoch, on the class-balanced test beats. References (test-only): torchattacks 3.5.1 APGD, APGDT and
Square, same model, beats, eps, steps / queries. Ours must reach a robust accuracy no higher than
torchattacks' + 0.01.

torchattacks' APGD/APGDT/Square assume image batches [n, c, h, w] (a 3-D batch is read as one image),
so they get the beats as [n, 1, 1, 187] through a reshape wrapper around the same model. For Square
that makes each beat a 1 x 187 image: its "square" of side round(sqrt(p * 187)) is clipped to the one
row, i.e. a window of only ~sqrt(p * 187) samples (12 at p = 0.8, 1 at the end of the schedule), and
one window position is shared by the whole batch per iteration; ours uses per-sample windows of
round(p * 187) samples (the same fraction p of the signal as the paper's square; see square.py).
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from ecg_pipeline.attacks.apgd import apgd, apgd_ce, apgd_t, checkpoint_periods
from ecg_pipeline.attacks.base import AttackError
from ecg_pipeline.attacks.fab import fab, fab_t
from ecg_pipeline.attacks.losses import dlr_loss, dlr_targeted_loss
from ecg_pipeline.attacks.registry import get_attack
from ecg_pipeline.attacks.square import p_schedule, square, square_with_queries

BOUNDS = (0.0, 1.0)
TOL = 0.01


class AsImage(nn.Module):
    """[n, c, 1, L] -> [n, c, L] for torchattacks' image-shaped attacks."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.reshape(x.shape[0], x.shape[1], -1))


def acc(model, x, y) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def _reference(name, model, x, y, eps, budget):
    import torchattacks

    wrapped = AsImage(model).eval()
    if name == "apgd_ce":
        ref = torchattacks.APGD(wrapped, eps=eps, steps=budget, loss="ce", n_restarts=1, seed=0)
    elif name == "apgd_t":
        ref = torchattacks.APGDT(wrapped, eps=eps, steps=budget, n_restarts=1, n_classes=5, seed=0)
    else:
        ref = torchattacks.Square(wrapped, eps=eps, n_queries=budget, n_restarts=1, p_init=0.8, seed=0)
    return ref(x[:, :, None, :], y).reshape(x.shape)


def _ours(name, model, x, y, eps, budget):
    if name == "apgd_ce":
        return apgd(model, x, y, eps, bounds=BOUNDS, loss="ce", steps=budget)
    if name == "apgd_t":
        return apgd(model, x, y, eps, bounds=BOUNDS, loss="dlr", targeted=True, steps=budget)
    return square(model, x, y, eps, bounds=BOUNDS, max_queries=budget)


# ---------------------------------------------------------------- agreement with torchattacks


@pytest.mark.parametrize("eps", [0.03, 0.05])
@pytest.mark.parametrize("name,budget", [("apgd_ce", 100), ("apgd_t", 100), ("square", 1000)])
def test_mlp_no_weaker_than_torchattacks(trained_mlp, data, name, budget, eps):
    x, y = data
    with torch.random.fork_rng():
        ref = _reference(name, trained_mlp, x, y, eps, budget)
    ours = _ours(name, trained_mlp, x, y, eps, budget)
    a_clean, a_ours, a_ref = acc(trained_mlp, x, y), acc(trained_mlp, ours, y), acc(trained_mlp, ref, y)
    print(f"MLP {name} eps={eps} budget={budget}: clean {a_clean:.4f} ours {a_ours:.4f} torchattacks {a_ref:.4f}")
    assert (ours - x).abs().max() <= eps + 1e-6
    assert a_ours <= a_ref + TOL
    assert a_ours < a_clean - 0.1


@pytest.mark.parametrize("eps", [0.03, 0.05])
@pytest.mark.parametrize("name,budget", [("apgd_ce", 50), ("apgd_t", 50), ("square", 300)])
def test_cnn_no_weaker_than_torchattacks(trained_cnn, data, name, budget, eps):
    x, y = data
    x, y = x[::4], y[::4]  # 125 beats: the CNN is ~20x the MLP's cost
    with torch.random.fork_rng():
        ref = _reference(name, trained_cnn, x, y, eps, budget)
    ours = _ours(name, trained_cnn, x, y, eps, budget)
    a_clean, a_ours, a_ref = acc(trained_cnn, x, y), acc(trained_cnn, ours, y), acc(trained_cnn, ref, y)
    print(f"CNN {name} eps={eps} budget={budget}: clean {a_clean:.4f} ours {a_ours:.4f} torchattacks {a_ref:.4f}")
    assert a_ours <= a_ref + TOL


# ---------------------------------------------------------------- formulas


def test_dlr_losses_match_the_reference_formulas():
    import torchattacks

    torch.manual_seed(0)
    z = torch.randn(64, 5)
    y = torch.randint(0, 5, (64,))
    t = (y + 1 + torch.randint(0, 4, (64,))) % 5
    ta = torchattacks.APGD(nn.Identity())
    assert torch.allclose(dlr_loss(z, y), ta.dlr_loss(z, y), atol=1e-6)
    zs = z.sort(dim=1).values
    ref_t = -(z[torch.arange(64), y] - z[torch.arange(64), t]) / (zs[:, -1] - 0.5 * (zs[:, -3] + zs[:, -4]) + 1e-12)
    assert torch.allclose(dlr_targeted_loss(z, y, t), ref_t, atol=1e-6)
    assert torch.allclose(dlr_loss(z, y, reduction="sum"), dlr_loss(z, y).sum())
    with pytest.raises(AttackError):
        dlr_targeted_loss(z[:, :3], y.clamp(max=2), t.clamp(max=2))


def test_schedules():
    assert checkpoint_periods(100) == [22, 19, 16, 13, 10, 7, 6, 6, 6]
    assert sum(checkpoint_periods(7)) >= 7 and min(checkpoint_periods(7)) >= 1
    assert p_schedule(0, 10000, 0.8) == 0.8 and p_schedule(11, 10000, 0.8) == 0.4
    assert p_schedule(4999, 5000, 0.8) == pytest.approx(0.8 / 512)


# ---------------------------------------------------------------- properties, every attack

ATTACKS = {
    "apgd_ce": lambda m, x, y, eps, **kw: apgd_ce(m, x, y, eps, steps=10, **kw),
    "apgd_dlr_restarts": lambda m, x, y, eps, **kw: apgd(m, x, y, eps, loss="dlr", steps=10, restarts=2, **kw),
    "apgd_t": lambda m, x, y, eps, **kw: apgd_t(m, x, y, eps, steps=10, n_target_classes=2, **kw),
    "square": lambda m, x, y, eps, **kw: square(m, x, y, eps, max_queries=60, **kw),
    "fab_t": lambda m, x, y, eps, **kw: fab_t(m, x, y, eps, steps=10, restarts=2, n_target_classes=2, **kw),
    "fab": lambda m, x, y, eps, **kw: fab(m, x, y, eps, steps=10, restarts=2, **kw),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_properties(trained_mlp, data, name):
    x, y = data
    x, y = x[::4], y[::4]
    eps = 0.05
    model = copy.deepcopy(trained_mlp).train()  # mode must be restored, whatever it was
    state = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    mask = torch.ones_like(x)
    mask[:, :, 120:] = 0  # "padding" at the end of each beat
    out = ATTACKS[name](model, x, y, eps, mask=mask, bounds=BOUNDS, seed=3)
    assert model.training and flags == [p.requires_grad for p in model.parameters()]
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    assert out.shape == x.shape and out.dtype == x.dtype
    assert (out - x).abs().max() <= eps + 1e-6
    assert out.min() >= BOUNDS[0] and out.max() <= BOUNDS[1]
    assert torch.equal(out[:, :, 120:], x[:, :, 120:])  # masked positions never perturbed
    again = ATTACKS[name](model, x, y, eps, mask=mask, bounds=BOUNDS, seed=3)
    assert torch.equal(out, again)  # seeded
    model.eval()
    with torch.no_grad():
        clean_wrong = model(x).argmax(1) != y
        still_wrong = model(out).argmax(1) != y
    assert bool(clean_wrong.any())
    unchanged = (out == x).flatten(1).all(1)
    assert bool((unchanged | still_wrong)[clean_wrong].all())
    assert acc(model, out, y) <= acc(model, x, y)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_eps_zero_and_empty(trained_mlp, data, name):
    x, y = data
    assert torch.equal(ATTACKS[name](trained_mlp, x[:8], y[:8], 0.0, bounds=BOUNDS), x[:8])
    assert ATTACKS[name](trained_mlp, x[:0], y[:0], 0.05, bounds=BOUNDS).shape == (0, 1, 187)


def test_bad_input_refused(trained_mlp, data):
    x, y = data
    with pytest.raises(AttackError):
        apgd(trained_mlp, x[:4], y[:4], 0.05, loss="cw")
    with pytest.raises(AttackError):
        apgd(trained_mlp, x[:4], y[:4], 0.05, targeted=True, n_target_classes=5)
    with pytest.raises(AttackError):
        apgd(trained_mlp, x[:4], y[:4], -1.0)
    with pytest.raises(AttackError):
        square(trained_mlp, x[:4], y[:4], 0.05, p_init=0.0)
    with pytest.raises(AttackError):
        square(trained_mlp, x[:4], y[:4], 0.05, max_queries=1)


def test_square_counts_queries_and_uses_no_gradients(trained_mlp, data):
    x, y = data
    x, y = x[:40], y[:40]

    class NoGrad(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            assert not torch.is_grad_enabled()
            return self.inner(x)

    out, queries = square_with_queries(NoGrad(trained_mlp), x, y, 0.05, bounds=BOUNDS, max_queries=50)
    with torch.no_grad():
        fooled = trained_mlp(out).argmax(1) != y
    assert int(queries.max()) <= 50 and int(queries.min()) >= 1
    assert bool((queries[~fooled] == 50).all())  # a robust sample spent the budget
    assert bool((queries[fooled] < 50).any() | (queries[fooled] == 50).all())


def test_registry_names():
    assert get_attack("apgd") is apgd and get_attack("apgd_ce") is apgd_ce and get_attack("apgd_t") is apgd_t
    assert get_attack("square") is square


# ---- the nested pass over an eps grid (issue 27): autoattack_over_grid

GRID = [0.0, 0.005, 0.01, 0.02, 0.05]
WEAK_ENSEMBLE = dict(steps=2, max_queries=100, n_target_classes=2, attacks=("apgd_ce", "apgd_t", "fab_t", "square"))


def test_the_nested_pass_carries_checked_examples_inside_their_ball(trained_mlp, data):
    from ecg_pipeline.attacks.autoattack import CLEAN_WRONG, UNBROKEN, autoattack_over_grid

    x, y = data
    x, y = x[::2], y[::2]
    x_adv, info = autoattack_over_grid(trained_mlp, x, y, GRID, bounds=BOUNDS, seed=5, **WEAK_ENSEMBLE)
    broken_by = info["broken_by"]
    assert len(x_adv) == len(GRID) and broken_by.shape == (len(GRID), x.shape[0])
    assert torch.equal(x_adv[0], x) and not bool((broken_by[0] >= 0).any())  # eps 0: nothing attacked
    broken = broken_by >= 0
    assert bool(broken[1].any()) and bool((broken_by[1:] == UNBROKEN).any())  # some break, some stand
    assert bool((broken[:-1] <= broken[1:]).all())  # nested: broken at eps_i -> broken at every larger eps
    carried = 0
    for g, eps in enumerate(GRID):
        rows = broken[g].nonzero().flatten()
        with torch.no_grad():
            assert bool((trained_mlp(x_adv[g][rows]).argmax(1) != y[rows]).all())  # a real break
        distance = (x_adv[g][rows].double() - x[rows].double()).flatten(1).abs().amax(1)
        assert bool((distance <= eps + 1e-6).all())  # inside its ball
        assert float(x_adv[g].min()) >= BOUNDS[0] and float(x_adv[g].max()) <= BOUNDS[1]
        if g > 0:  # carried from the smaller eps (the same example): inside the smaller ball
            same = rows[broken[g - 1][rows] & (x_adv[g][rows] == x_adv[g - 1][rows]).flatten(1).all(1)]
            carried += same.numel()
            assert bool(((x_adv[g][same] - x[same]).abs().flatten(1).amax(1) <= GRID[g - 1] + 1e-6).all())
        assert torch.equal(x_adv[g][~broken[g]], x[~broken[g]])
    assert carried > 0
    with torch.no_grad():
        clean_wrong = trained_mlp(x).argmax(1) != y
    assert bool(clean_wrong.any()) and bool((broken_by[:, clean_wrong] == CLEAN_WRONG).all())


def test_the_nested_pass_attacks_only_the_standing_pairs(trained_mlp, data):
    from ecg_pipeline.attacks.autoattack import autoattack_over_grid

    x, y = data
    x, y = x[:60], y[:60]
    standing = torch.zeros(len(GRID), 60, dtype=torch.bool)
    standing[2, :30] = True  # eps 0.01 for the first half only
    x_adv, info = autoattack_over_grid(trained_mlp, x, y, GRID, bounds=BOUNDS, seed=5, standing=standing,
                                       **WEAK_ENSEMBLE)
    attacked = info["broken_by"] >= 0
    assert bool(attacked[2, :30].any()) and not bool(attacked[:, 30:].any()) and not bool(attacked[[0, 1]].any())
    assert not bool(attacked[3:].any())  # a carry goes only where the pair still stands
    with pytest.raises(AttackError, match=r"standing must be \[5, 60\]"):
        autoattack_over_grid(trained_mlp, x, y, GRID, standing=standing[:, :10])
    with pytest.raises(AttackError, match=r"increasing order"):
        autoattack_over_grid(trained_mlp, x, y, [0.0, 0.05, 0.01])
    with pytest.raises(AttackError, match=r"unknown attack\(s\) \['pgd'\]"):
        autoattack_over_grid(trained_mlp, x, y, GRID, attacks=("pgd",))


def test_the_nested_pass_leaves_the_model_as_found(trained_mlp, data):
    from ecg_pipeline.attacks.autoattack import autoattack_over_grid

    x, y = data
    model = copy.deepcopy(trained_mlp).train()
    flags = [p.requires_grad for p in model.parameters()]
    autoattack_over_grid(model, x[:20], y[:20], GRID[:3], bounds=BOUNDS, **WEAK_ENSEMBLE)
    assert model.training and flags == [p.requires_grad for p in model.parameters()]
