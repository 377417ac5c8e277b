"""FAB / FAB-T, L-inf (Croce & Hein 2020): the projection it rests on, the cross-check against torchattacks 3.5.1's
FAB on the shared MLP trained on real MIT-BIH beats (conftest), the eps-ball contract, and FAB-T as AutoAttack's
optional third stage."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecg_pipeline.attacks.autoattack import CLEAN_WRONG, ENSEMBLE, STANDARD, UNBROKEN, autoattack
from ecg_pipeline.attacks.base import AttackError
from ecg_pipeline.attacks.fab import _least_reach, fab, fab_t, linf_step_to_plane
from ecg_pipeline.attacks.registry import EFFORT_KEYS, GRADIENT_FREE, get_attack

BOUNDS = (0.0, 1.0)


def breaks(model, x, y, x_adv, eps) -> torch.Tensor:
    """Valid breaks: beats classified correctly clean, misclassified at ``x_adv``, float64 L-inf distance < eps,
    inside the bounds."""
    with torch.no_grad():
        right = model(x).argmax(1) == y
        wrong = model(x_adv).argmax(1) != y
    inside = (x_adv.double() - x.double()).flatten(1).abs().amax(1) < eps
    in_bounds = ((x_adv >= BOUNDS[0]) & (x_adv <= BOUNDS[1])).flatten(1).all(1)
    return right & wrong & inside & in_bounds


# ---------------------------------------------------------------- the projection (eq. 8, p = inf, in a box)


def _linprog_lam(w, c, up, down):
    """min t s.t. <w, d> = c, |d_i| <= t, -down <= d <= up, by scipy's HiGHS (None: infeasible)."""
    from scipy.optimize import linprog

    n = w.size
    cost = np.r_[np.zeros(n), 1.0]
    a_ub = np.block([[np.eye(n), -np.ones((n, 1))], [-np.eye(n), -np.ones((n, 1))]])
    bounds = [(-lo, hi) for lo, hi in zip(down, up)] + [(0, None)]
    res = linprog(cost, A_ub=a_ub, b_ub=np.zeros(2 * n), A_eq=np.r_[w, 0.0][None], b_eq=[c], bounds=bounds,
                  method="highs")
    return res.x[-1] if res.status == 0 else None


def test_the_projection_is_the_least_linf_step_onto_the_plane_inside_the_box():
    rng = np.random.default_rng(0)
    m, n = 60, 12
    w = rng.normal(size=(m, n)) * (rng.random((m, n)) > 0.2)           # some zero weights
    up, down = rng.random((m, n)) * 0.3, rng.random((m, n)) * 0.3
    up[:, :3] = down[:, :3] = 0                                          # masked samples: no room
    up[5], down[5] = np.inf, np.inf                                      # unbounded row
    c = rng.normal(size=m) * 0.2
    c[7] = 0.0                                                           # already on the plane
    c[8] = 50.0                                                          # out of reach
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    d = linf_step_to_plane(t(w), t(c), t(up), t(down)).numpy()
    assert np.all(d <= up + 1e-12) and np.all(-d <= down + 1e-12)
    reach = (np.abs(w) * np.where(w * np.sign(c)[:, None] > 0, up, down).clip(0, 1e6)).sum(1)
    for i in range(m):
        lam = _linprog_lam(w[i], c[i], np.minimum(up[i], 1e6), np.minimum(down[i], 1e6))
        if lam is None:  # out of the box's reach: the box corner towards the plane
            assert reach[i] < abs(c[i])
            assert np.allclose(d[i], np.sign(w[i] * np.sign(c[i])) * np.where(w[i] * c[i] > 0, up[i], down[i]))
            continue
        assert w[i] @ d[i] == pytest.approx(c[i], abs=1e-9)
        assert np.abs(d[i]).max() == pytest.approx(lam, abs=1e-7)
    assert _linprog_lam(w[8], c[8], up[8], down[8]) is None
    assert np.all(d[7] == 0)
    # Newton's method and the exact search over the sorted rooms agree
    flip = np.where(c < 0, -1.0, 1.0)[:, None]
    room = np.where(w * flip > 0, up, down).clip(0, 1e30) * (w != 0)
    exact = _least_reach(t(np.abs(w)), t(np.abs(c)), t(room)).numpy()
    lam_newton = np.abs(d).max(1)
    finite = np.isfinite(exact)
    assert np.allclose(lam_newton[finite], exact[finite], atol=1e-9)


# ---------------------------------------------------------------- against torchattacks, real beats


def test_fab_t_no_weaker_than_torchattacks_and_every_break_valid(trained_mlp, data):
    """FAB-T, 100 steps, 1 restart, every other class as a target, eps 0.03, on the 500 class-balanced test beats
    (391 classified correctly clean): measured 135 breaks for ours and 135 for torchattacks 3.5.1's
    ``FAB(norm="Linf", multi_targeted=True, n_classes=5)``, both counted with the same float64 check. Ours may
    trail by at most 2 beats (float rounding near the boundary), and each of its breaks is valid."""
    import torchattacks

    x, y = data
    eps = 0.03
    ours = fab_t(trained_mlp, x, y, eps, bounds=BOUNDS, steps=100, restarts=1)
    with torch.random.fork_rng():
        ref = torchattacks.FAB(trained_mlp, norm="Linf", eps=eps, steps=100, n_restarts=1, multi_targeted=True,
                               n_classes=5)(x, y)
    ours_broken, ref_broken = breaks(trained_mlp, x, y, ours, eps), breaks(trained_mlp, x, y, ref, eps)
    print(f"FAB-T eps {eps}: ours {int(ours_broken.sum())}, torchattacks {int(ref_broken.sum())} breaks")
    assert int(ours_broken.sum()) >= int(ref_broken.sum()) - 2
    assert int(ours_broken.sum()) >= 100
    # every beat ours did not break is returned as its clean beat; every changed beat is a valid break
    changed = ~(ours == x).flatten(1).all(1)
    assert torch.equal(changed, ours_broken)


def test_untargeted_fab_breaks_beats_and_respects_the_ball(trained_mlp, data):
    x, y = data
    x, y = x[::2], y[::2]
    out = fab(trained_mlp, x, y, 0.03, bounds=BOUNDS, steps=50)
    broken = breaks(trained_mlp, x, y, out, 0.03)
    assert int(broken.sum()) >= 40
    assert torch.equal(~(out == x).flatten(1).all(1), broken)


# ---------------------------------------------------------------- the attack contract


def test_mask_bounds_seed_and_model_left_as_found(trained_mlp, data):
    x, y = data
    x, y = x[::5], y[::5]
    mask = torch.ones_like(x)
    mask[:, :, 100:] = 0
    flags = [p.requires_grad for p in trained_mlp.parameters()]
    was_training = trained_mlp.training   # the session's model: another test (torchattacks) may leave it training
    out = fab_t(trained_mlp, x, y, 0.05, mask=mask, bounds=BOUNDS, steps=30, restarts=2, n_target_classes=2, seed=4)
    again = fab_t(trained_mlp, x, y, 0.05, mask=mask, bounds=BOUNDS, steps=30, restarts=2, n_target_classes=2, seed=4)
    assert torch.equal(out, again)
    assert torch.equal(out[:, :, 100:], x[:, :, 100:])
    assert out.min() >= 0 and out.max() <= 1
    assert (out.double() - x.double()).abs().max() < 0.05
    assert int(breaks(trained_mlp, x, y, out, 0.05).sum()) > 0
    assert flags == [p.requires_grad for p in trained_mlp.parameters()] and trained_mlp.training == was_training


@pytest.mark.parametrize("kwargs, message", [
    ({"n_target_classes": 5}, "n_target_classes must be <= 4"),
    ({"alpha_max": 1.5}, "alpha_max must be in"),
    ({"steps": 0}, "steps"),
    ({"eta": 0.0}, "eta must be > 0"),
])
def test_bad_settings_refused_before_any_work(trained_mlp, data, kwargs, message):
    x, y = data
    with pytest.raises(AttackError, match=message):
        fab_t(trained_mlp, x[:4], y[:4], 0.03, bounds=BOUNDS, **kwargs)


def test_registered_with_its_properties():
    assert get_attack("fab_t") is fab_t and get_attack("fab") is fab
    assert EFFORT_KEYS["fab_t"] == EFFORT_KEYS["fab"] == ("steps", "restarts")
    assert "fab_t" not in GRADIENT_FREE


# ---------------------------------------------------------------- FAB-T in AutoAttack


def test_autoattack_default_leaves_fab_out_and_broken_by_names_fab_t(trained_mlp, data):
    """The default ensemble is unchanged (APGD-CE, APGD-T, Square); ``attacks`` may add FAB-T (AutoAttack's
    ``STANDARD`` order), and ``broken_by`` then gives its index in ``attacks`` for the beats it broke, each a valid
    break the attacks before it left. (On this MLP full-strength APGDs leave FAB-T nothing, so Square runs first
    here: 10 steps, 20 queries, eps 0.03, 250 beats.)"""
    x, y = data
    x, y = x[::2], y[::2]
    assert ENSEMBLE == ("apgd_ce", "apgd_t", "square")
    weak = dict(steps=10, restarts=1, max_queries=20)
    plain, _ = autoattack(trained_mlp, x, y, 0.03, bounds=BOUNDS, seed=1, **weak)
    default, _ = autoattack(trained_mlp, x, y, 0.03, bounds=BOUNDS, seed=1, attacks=ENSEMBLE, **weak)
    assert torch.equal(plain, default)
    standard, info = autoattack(trained_mlp, x, y, 0.03, bounds=BOUNDS, seed=1, attacks=STANDARD, **weak)
    assert set(info["broken_by"].tolist()) <= {CLEAN_WRONG, UNBROKEN, 0, 1, 2, 3}
    with torch.no_grad():
        assert bool((trained_mlp(standard).argmax(1) != y)[info["broken_by"] >= 0].all())
    assert bool(breaks(trained_mlp, x, y, standard, 0.03)[info["broken_by"] == 2].all())

    alone, alone_info = autoattack(trained_mlp, x, y, 0.03, bounds=BOUNDS, seed=1, attacks=("square",), **weak)
    out, info = autoattack(trained_mlp, x, y, 0.03, bounds=BOUNDS, seed=1, attacks=("square", "fab_t"), **weak)
    by_fab = info["broken_by"] == 1
    assert int(by_fab.sum()) >= 20
    assert bool(breaks(trained_mlp, x, y, out, 0.03)[by_fab].all())
    assert torch.equal(info["broken_by"] == 0, alone_info["broken_by"] == 0)  # Square first, same seed: same beats
    assert bool((alone_info["broken_by"][by_fab] == UNBROKEN).all())           # FAB-T only on what it left
    assert torch.equal(out[~by_fab], alone[~by_fab])
