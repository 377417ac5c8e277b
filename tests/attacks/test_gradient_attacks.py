"""Gradient attacks: FGSM, BIM, PGD (+ restarts, + the NSR code's Adamax 100-PGD), CW L-inf, SAP.

Real data throughout: the shared MLP trained on MIT-BIH beats and its class-balanced test beats
(conftest). Reference implementations are test-only: torchattacks (FGSM, BIM, PGD) and ART
(PGD driven by the CW loss; CarliniLInfMethod). Agreement is asserted on robust accuracy, within one
percentage point unless stated; without a random start the runs are deterministic and in practice
agree to the sample.

ART 1.20's ``CarliniLInfMethod`` is the original minimal-tau search of Carlini & Wagner (no eps
argument), not the fixed-eps margin-loss PGD that ``cw_linf`` implements. So CW is checked twice:
(1) against ART's ``ProjectedGradientDescentPyTorch`` with the same CW margin loss and settings
(the same algorithm: robust accuracy within 1 point); (2) against ``CarliniLInfMethod`` per beat:
wherever ART finds an adversarial at L-inf distance d, ``cw_linf`` at eps = d must find one too
(on at least 80% of those beats), i.e. ours is at least as strong at ART's own radius.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from ecg_pipeline.attacks.base import AttackError, feasible_box, margin, project
from ecg_pipeline.attacks.bim import bim
from ecg_pipeline.attacks.cw import cw_linf
from ecg_pipeline.attacks.fgsm import fgsm
from ecg_pipeline.attacks.pgd import pgd, pgd_nsr
from ecg_pipeline.attacks.sap import gaussian_kernels, sap, smooth, smoothing_kernel

BOUNDS = (0.0, 1.0)
FS = 125.0  # Kachuee beats
TOL = 0.01  # one percentage point


def acc(model, x, y) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


class _Counting(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.rows = []

    def forward(self, x):
        self.rows.append(x.shape[0])
        return self.inner(x)


# every attack with small settings; each takes (model, x, y, eps, **common)
ATTACKS = {
    "fgsm": lambda m, x, y, eps, **kw: fgsm(m, x, y, eps, **kw),
    "bim": lambda m, x, y, eps, **kw: bim(m, x, y, eps, steps=10, **kw),
    "pgd": lambda m, x, y, eps, **kw: pgd(m, x, y, eps, steps=10, **kw),
    "pgd_restarts": lambda m, x, y, eps, **kw: pgd(m, x, y, eps, steps=10, restarts=2, **kw),
    "pgd_nsr": lambda m, x, y, eps, **kw: pgd_nsr(m, x, y, eps, steps=20, **kw),
    "cw_linf": lambda m, x, y, eps, **kw: cw_linf(m, x, y, eps, steps=10, **kw),
    "sap": lambda m, x, y, eps, **kw: sap(m, x, y, eps, pgd_steps=5, steps=10, **kw),
}


# ---------------------------------------------------------------- agreement with reference libraries


@pytest.mark.parametrize("eps", [0.03, 0.05])
@pytest.mark.parametrize("steps", [20, 50])
def test_pgd_matches_torchattacks(trained_mlp, data, eps, steps):
    import torchattacks

    x, y = data
    alpha = 2.5 * eps / steps
    ours = pgd(trained_mlp, x, y, eps, bounds=BOUNDS, steps=steps, step_size=alpha, random_start=False)
    ref = torchattacks.PGD(trained_mlp, eps=eps, alpha=alpha, steps=steps, random_start=False)(x, y)
    a_ours, a_ref = acc(trained_mlp, ours, y), acc(trained_mlp, ref, y)
    print(f"PGD eps={eps} steps={steps}: ours {a_ours:.4f} torchattacks {a_ref:.4f}")
    assert abs(a_ours - a_ref) <= TOL
    assert a_ours < acc(trained_mlp, x, y) - 0.1  # the attack does something


def test_pgd_random_start_matches_torchattacks_over_seeds(trained_mlp, data):
    import torchattacks

    x, y = data
    eps, steps, alpha = 0.03, 20, 0.03 * 2.5 / 20
    ours, ref = [], []
    with torch.random.fork_rng():
        for seed in range(3):
            ours.append(acc(trained_mlp, pgd(trained_mlp, x, y, eps, bounds=BOUNDS, steps=steps, step_size=alpha, seed=seed), y))
            torch.manual_seed(seed)  # torchattacks draws its start from the global generator
            ref.append(acc(trained_mlp, torchattacks.PGD(trained_mlp, eps=eps, alpha=alpha, steps=steps)(x, y), y))
    print(f"PGD random start, 3 seeds: ours {np.mean(ours):.4f} {ours} torchattacks {np.mean(ref):.4f} {ref}")
    assert abs(np.mean(ours) - np.mean(ref)) <= TOL


def test_pgd_matches_torchattacks_on_the_cnn(trained_cnn, data):
    import torchattacks

    x, y = data
    x, y = x[::2], y[::2]
    eps, steps, alpha = 0.03, 20, 0.005
    ours = pgd(trained_cnn, x, y, eps, bounds=BOUNDS, steps=steps, step_size=alpha, random_start=False)
    ref = torchattacks.PGD(trained_cnn, eps=eps, alpha=alpha, steps=steps, random_start=False)(x, y)
    a_clean, a_ours, a_ref = acc(trained_cnn, x, y), acc(trained_cnn, ours, y), acc(trained_cnn, ref, y)
    # same trajectory; ours returns each sample's strongest iterate (first misclassified, else highest
    # loss), torchattacks the last: a sample torchattacks fools, ours fools too, and they agree per sample
    with torch.no_grad():
        fooled_ours = trained_cnn(ours).argmax(1) != y
        fooled_ref = trained_cnn(ref).argmax(1) != y
    covered = (fooled_ours | ~fooled_ref).float().mean().item()
    agree = (fooled_ours == fooled_ref).float().mean().item()
    print(f"PGD on KachueeCNN eps={eps}: clean {a_clean:.4f}, ours {a_ours:.4f} torchattacks {a_ref:.4f}, "
          f"fooled by torchattacks -> by ours: {covered:.4f}, same verdict: {agree:.4f}")
    assert abs(a_ours - a_ref) <= TOL
    assert covered >= 0.99
    assert agree >= 0.95
    assert a_ours < a_clean - 0.1


def test_attacks_work_inside_no_grad(trained_mlp, data):
    x, y = data
    with torch.no_grad():
        inside = pgd(trained_mlp, x[:64], y[:64], 0.05, bounds=BOUNDS, steps=5, random_start=False)
        smooth_inside = sap(trained_mlp, x[:64], y[:64], 0.05, bounds=BOUNDS, pgd_steps=2, steps=2)
    assert torch.equal(inside, pgd(trained_mlp, x[:64], y[:64], 0.05, bounds=BOUNDS, steps=5, random_start=False))
    assert torch.equal(smooth_inside, sap(trained_mlp, x[:64], y[:64], 0.05, bounds=BOUNDS, pgd_steps=2, steps=2))


@pytest.mark.parametrize("eps", [0.01, 0.03, 0.05])
def test_fgsm_matches_torchattacks(trained_mlp, data, eps):
    import torchattacks

    x, y = data
    ours = fgsm(trained_mlp, x, y, eps, bounds=BOUNDS)
    ref = torchattacks.FGSM(trained_mlp, eps=eps)(x, y)
    a_ours, a_ref = acc(trained_mlp, ours, y), acc(trained_mlp, ref, y)
    print(f"FGSM eps={eps}: ours {a_ours:.4f} torchattacks {a_ref:.4f}, max |diff| {float((ours - ref).abs().max()):.2e}")
    assert abs(a_ours - a_ref) <= TOL


@pytest.mark.parametrize("eps", [0.03, 0.05])
def test_bim_matches_torchattacks(trained_mlp, data, eps):
    import torchattacks

    x, y = data
    steps, alpha = 20, eps / 10
    ours = bim(trained_mlp, x, y, eps, bounds=BOUNDS, steps=steps, step_size=alpha)
    ref = torchattacks.BIM(trained_mlp, eps=eps, alpha=alpha, steps=steps)(x, y)
    a_ours, a_ref = acc(trained_mlp, ours, y), acc(trained_mlp, ref, y)
    print(f"BIM eps={eps}: ours {a_ours:.4f} torchattacks {a_ref:.4f}")
    assert abs(a_ours - a_ref) <= TOL


class _CWLossOneHot(nn.Module):
    """The CW margin loss for ART's classifier (ART passes one-hot labels to a custom loss)."""

    def forward(self, logits, onehot):
        return -margin(logits, onehot.argmax(1)).clamp_min(0).sum()


@pytest.mark.parametrize("eps", [0.03, 0.05])
def test_cw_linf_matches_art_pgd_on_cw_loss(trained_mlp, data, eps):
    from art.attacks.evasion import ProjectedGradientDescentPyTorch
    from art.estimators.classification import PyTorchClassifier

    x, y = data
    steps = 30
    clf = PyTorchClassifier(model=trained_mlp, loss=_CWLossOneHot(), input_shape=tuple(x.shape[1:]), nb_classes=5, clip_values=BOUNDS)
    ref_attack = ProjectedGradientDescentPyTorch(
        clf, norm=np.inf, eps=eps, eps_step=2.5 * eps / steps, max_iter=steps, num_random_init=0, batch_size=len(y), verbose=False
    )
    ref = torch.as_tensor(ref_attack.generate(x.numpy(), y.numpy()))
    trained_mlp.eval()  # ART leaves the model in whatever mode it set
    ours = cw_linf(trained_mlp, x, y, eps, bounds=BOUNDS, steps=steps)
    a_ours, a_ref = acc(trained_mlp, ours, y), acc(trained_mlp, ref, y)
    print(f"CW-Linf eps={eps}: ours {a_ours:.4f} ART PGD+CW loss {a_ref:.4f}")
    assert abs(a_ours - a_ref) <= TOL


def test_cw_linf_at_least_as_strong_as_art_carlini_linf(trained_mlp, data):
    """ART's CarliniLInfMethod (tau search) on 10 clean-correct beats; ours at ART's own radius."""
    from art.attacks.evasion import CarliniLInfMethod
    from art.estimators.classification import PyTorchClassifier

    x, y = data
    with torch.no_grad():
        ok = torch.nonzero(trained_mlp(x).argmax(1) == y).squeeze(1)
    idx = ok[:: max(1, len(ok) // 10)][:10]
    xs, ys = x[idx], y[idx]
    clf = PyTorchClassifier(model=trained_mlp, loss=nn.CrossEntropyLoss(), input_shape=tuple(x.shape[1:]), nb_classes=5, clip_values=BOUNDS)
    art = CarliniLInfMethod(
        clf, confidence=0.0, learning_rate=0.01, max_iter=10, decrease_factor=0.7, initial_const=1e-2,
        largest_const=20.0, const_factor=2.0, batch_size=1, verbose=False,
    )
    x_art = torch.as_tensor(art.generate(xs.numpy(), ys.numpy()))
    trained_mlp.eval()
    with torch.no_grad():
        art_fooled = trained_mlp(x_art).argmax(1) != ys
    dist = (x_art - xs).flatten(1).abs().max(1).values
    broken = torch.nonzero(art_fooled).squeeze(1)
    assert len(broken) >= 3, "ART found too few adversarials to compare with"
    ours_fooled = []
    for i in broken.tolist():
        adv = cw_linf(trained_mlp, xs[i : i + 1], ys[i : i + 1], float(dist[i]) + 1e-6, bounds=BOUNDS, steps=100)
        with torch.no_grad():
            ours_fooled.append(bool(trained_mlp(adv).argmax(1) != ys[i]))
    print(f"CarliniLInfMethod broke {len(broken)}/10 at L-inf {dist[broken].numpy().round(3)}; cw_linf at those radii: {ours_fooled}")
    assert np.mean(ours_fooled) >= 0.8


# ---------------------------------------------------------------- constraints


@pytest.mark.parametrize("name", sorted(ATTACKS))
@pytest.mark.parametrize("eps", [0.03, 0.1])
def test_inside_eps_ball_and_bounds(trained_mlp, data, name, eps):
    x, y = data
    x_adv = ATTACKS[name](trained_mlp, x, y, eps, bounds=BOUNDS)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert float((x_adv - x).abs().max()) <= eps + 1e-6
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_masked_padding_is_left_exactly_alone(trained_mlp, data, name):
    x, y = data
    x = x[:100].clone()
    y = y[:100]
    x[..., -40:] = 0.0  # "padding"
    mask = torch.ones(x.shape[0], 1, x.shape[-1])
    mask[..., -40:] = 0
    x_adv = ATTACKS[name](trained_mlp, x, y, 0.05, mask=mask, bounds=BOUNDS)
    assert torch.equal(x_adv[..., -40:], x[..., -40:])
    assert float((x_adv - x)[..., :-40].abs().max()) > 0  # the real part is attacked


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_eps_zero_gives_clean_accuracy(trained_mlp, data, name):
    x, y = data
    x_adv = ATTACKS[name](trained_mlp, x, y, 0.0, bounds=BOUNDS)
    assert torch.equal(x_adv, x)
    assert acc(trained_mlp, x_adv, y) == acc(trained_mlp, x, y)


def test_feasible_box_is_project(data):
    x, _ = data
    x = x[:50]
    v = x + 0.2 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    mask = (torch.rand(x.shape[0], 1, x.shape[-1], generator=torch.Generator().manual_seed(1)) > 0.3).float()
    for m in (None, mask):
        for b in (None, BOUNDS):
            low, high = feasible_box(x, 0.05, m, b)
            assert torch.equal(v.clamp(low, high), project(v, x, 0.05, m, b))


# ---------------------------------------------------------------- monotonicity


EPS_GRID = [0.0, 0.01, 0.03, 0.05, 0.1]


@pytest.mark.parametrize("name", ["pgd", "pgd_nsr", "fgsm", "sap"])
def test_accuracy_non_increasing_in_eps(trained_mlp, data, name):
    x, y = data
    if name == "pgd":
        run = lambda eps: pgd(trained_mlp, x, y, eps, bounds=BOUNDS, steps=20, random_start=False)  # noqa: E731
    elif name == "pgd_nsr":
        run = lambda eps: pgd_nsr(trained_mlp, x, y, eps, steps=50)  # noqa: E731
    elif name == "fgsm":
        run = lambda eps: fgsm(trained_mlp, x, y, eps, bounds=BOUNDS)  # noqa: E731
    else:
        run = lambda eps: sap(trained_mlp, x, y, eps, bounds=BOUNDS, pgd_steps=10, steps=20)  # noqa: E731
    accs = [acc(trained_mlp, run(eps), y) for eps in EPS_GRID]
    print(f"{name} accuracy over eps {EPS_GRID}: {np.round(accs, 4).tolist()}")
    assert accs[0] == acc(trained_mlp, x, y)
    assert all(b <= a for a, b in zip(accs, accs[1:])), accs


@pytest.mark.parametrize("name", ["pgd", "pgd_nsr", "bim"])
def test_accuracy_non_increasing_in_steps(trained_mlp, data, name):
    x, y = data
    kw = dict(step_size=0.005)
    if name == "pgd":
        run = lambda s: pgd(trained_mlp, x, y, 0.03, bounds=BOUNDS, steps=s, random_start=False, **kw)  # noqa: E731
    elif name == "bim":
        run = lambda s: bim(trained_mlp, x, y, 0.03, bounds=BOUNDS, steps=s, **kw)  # noqa: E731
    else:
        run = lambda s: pgd_nsr(trained_mlp, x, y, 0.03, steps=s, **kw)  # noqa: E731
    accs = [acc(trained_mlp, run(s), y) for s in (10, 20, 50)]
    print(f"{name} accuracy over steps (10, 20, 50): {accs}")
    assert all(b <= a for a, b in zip(accs, accs[1:])), accs


# ---------------------------------------------------------------- model untouched, determinism, options


@pytest.mark.parametrize("name", sorted(ATTACKS))
@pytest.mark.parametrize("training", [True, False])
def test_model_weights_and_mode_unchanged(trained_mlp, data, name, training):
    x, y = data
    model = copy.deepcopy(trained_mlp)
    model.train(training)
    model.net[1].weight.requires_grad_(False)  # a mixed pattern of flags must come back as it was
    flags = [p.requires_grad for p in model.parameters()]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ATTACKS[name](model, x[:64], y[:64], 0.05, bounds=BOUNDS)
    assert model.training is training
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_deterministic_for_a_seed(trained_mlp, data):
    x, y = data
    a = pgd(trained_mlp, x, y, 0.05, bounds=BOUNDS, steps=10, seed=3)
    b = pgd(trained_mlp, x, y, 0.05, bounds=BOUNDS, steps=10, seed=3)
    c = pgd(trained_mlp, x, y, 0.05, bounds=BOUNDS, steps=10, seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(pgd_nsr(trained_mlp, x, y, 0.05, steps=10, seed=3), pgd_nsr(trained_mlp, x, y, 0.05, steps=10, seed=3))


def test_restarts_keep_the_first_success(trained_mlp, data):
    """Restart 1 is the single run (same seed, same draws); later restarts only add successes."""
    x, y = data
    one = pgd(trained_mlp, x, y, 0.03, bounds=BOUNDS, steps=10, seed=0)
    three = pgd(trained_mlp, x, y, 0.03, bounds=BOUNDS, steps=10, seed=0, restarts=3)
    with torch.no_grad():
        fooled_one = trained_mlp(one).argmax(1) != y
        fooled_three = trained_mlp(three).argmax(1) != y
    assert torch.equal(three[fooled_one], one[fooled_one])  # the first restart that fools is kept
    assert bool((fooled_three | ~fooled_one).all())
    print(f"PGD restarts: 1 -> {acc(trained_mlp, one, y):.4f}, 3 -> {acc(trained_mlp, three, y):.4f}")


def test_cycle_check_is_exact(trained_mlp, data):
    x, y = data
    kw = dict(bounds=BOUNDS, steps=60, step_size=0.01, random_start=False)
    counted_fast, counted_slow = _Counting(trained_mlp), _Counting(trained_mlp)
    fast = pgd(counted_fast, x, y, 0.05, cycle_check=8, **kw)
    slow = pgd(counted_slow, x, y, 0.05, cycle_check=0, **kw)
    same_rows = (fast == slow).flatten(1).all(1).float().mean().item()
    saved = 1 - sum(counted_fast.rows) / sum(counted_slow.rows)
    print(f"cycle_check: {same_rows:.4f} of rows bit-identical, {saved:.1%} of sample-steps saved")
    assert saved > 0.05  # the check does kick in on this model
    assert same_rows >= 0.99
    assert acc(trained_mlp, fast, y) == pytest.approx(acc(trained_mlp, slow, y), abs=0.004)


def test_pgd_returns_the_first_misclassified_iterate_on_the_mlp(trained_mlp, data):
    """On the trained MLP (``test_returns_strongest_iterate_not_last`` is the constructed case): each beat comes
    back at its first misclassified iterate of the plain sign-gradient trajectory, else at its highest-loss one,
    so robust accuracy is never above the last iterate's. (Replaces a comparison of two identical calls.)"""
    x, y = data
    eps, step, steps = 0.03, 0.01, 40
    xs, losses, fooled = _trajectory(trained_mlp, y, x.clone(), step, steps,
                                     project=lambda s: project(s, x, eps, None, BOUNDS))
    want, ever, left_band, lower_loss = _strongest(xs, losses, fooled)
    out = pgd(trained_mlp, x, y, eps, bounds=BOUNDS, steps=steps, step_size=step, random_start=False)
    same_rows = (out - want).flatten(1).abs().amax(1).le(1e-6).float().mean().item()
    with torch.no_grad():
        fooled_out = trained_mlp(out).argmax(1) != y
    print(f"PGD on the MLP: last iterate {acc(trained_mlp, xs[-1], y):.4f}, returned {acc(trained_mlp, out, y):.4f}; "
          f"{left_band} beats fooled then left, {lower_loss} ended below their best loss; rows as expected {same_rows:.4f}")
    assert left_band + lower_loss > 0.01 * len(y)  # more than the tolerance below: returning the last iterate fails
    assert same_rows >= 0.99
    assert (fooled_out == ever).float().mean().item() >= 0.99
    assert acc(trained_mlp, out, y) <= acc(trained_mlp, xs[-1], y)


def test_pgd_nsr_flipped_stays_flipped_and_stops(trained_mlp, data):
    x, y = data
    short = pgd_nsr(trained_mlp, x, y, 0.03, steps=20)
    long = pgd_nsr(trained_mlp, x, y, 0.03, steps=60)
    with torch.no_grad():
        clean_wrong = trained_mlp(x).argmax(1) != y
        fooled_short = trained_mlp(short).argmax(1) != y
        fooled_long = trained_mlp(long).argmax(1) != y
    assert bool((fooled_long | ~fooled_short).all())  # flipped stays flipped
    stopped = fooled_short & ~clean_wrong
    assert torch.equal(long[stopped], short[stopped])  # ... and is not moved any more
    assert torch.equal(short[clean_wrong], x[clean_wrong])  # clean-wrong: untouched, counted wrong
    assert bool(fooled_short[clean_wrong].all())
    print(f"pgd_nsr eps 0.03: 20 steps {acc(trained_mlp, short, y):.4f}, 60 steps {acc(trained_mlp, long, y):.4f}")


def test_pgd_variant_option_is_pgd_nsr(trained_mlp, data):
    x, y = data
    a = pgd_nsr(trained_mlp, x, y, 0.05, steps=15, seed=1)
    b = pgd(trained_mlp, x, y, 0.05, bounds=BOUNDS, steps=15, step_size=0.01, seed=1, variant="nsr_adamax")
    assert torch.equal(a, b)


# ---------------------------------------------------------------- SAP


def test_sap_kernel_is_the_mean_of_25_convolutions(data):
    x, _ = data
    theta = 0.05 * torch.randn(x[:20].shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    kernels = gaussian_kernels()
    assert len(kernels) == 25 and all(abs(float(k.sum()) - 1) < 1e-12 for k in kernels)
    direct = sum(nn.functional.conv1d(theta, k.view(1, 1, -1), padding=k.numel() // 2) for k in kernels) / 25
    assert torch.allclose(smooth(theta, smoothing_kernel()), direct, atol=1e-12)
    assert direct.shape == theta.shape


def test_sap_is_smooth_compared_with_pgd(trained_mlp, data):
    x, y = data
    eps = 0.05
    d_sap = (sap(trained_mlp, x, y, eps, bounds=BOUNDS) - x)[:, 0]
    d_pgd = (pgd(trained_mlp, x, y, eps, bounds=BOUNDS, steps=20, random_start=False) - x)[:, 0]
    freqs = torch.fft.rfftfreq(x.shape[-1], d=1 / FS)
    high = lambda d: float((torch.fft.rfft(d, dim=-1).abs() ** 2)[:, freqs > 10].sum())  # noqa: E731
    ratio = high(d_sap) / high(d_pgd)
    print(f"SAP/PGD energy above 10 Hz: {ratio:.4f}; robust acc SAP {acc(trained_mlp, x + d_sap[:, None], y):.4f} PGD {acc(trained_mlp, x + d_pgd[:, None], y):.4f}")
    assert ratio < 0.1
    assert acc(trained_mlp, x + d_sap[:, None], y) < acc(trained_mlp, x, y) - 0.1  # still an attack


# ---------------------------------------------------------------- bad input, refused before compute


BAD = {
    "eps < 0": dict(eps=-0.01),
    "step_size <= 0": dict(step_size=0.0),
    "negative step_size": dict(step_size=-0.1),
    "mask shape": dict(mask=torch.ones(7, 1, 187)),
    "mask length": dict(mask=torch.ones(32, 1, 100)),
    "label outside class set": dict(y_shift=5),
    "negative label": dict(y_shift=-10),
}


BAD_CASES = [
    (name, case)
    for name in ["fgsm", "bim", "pgd", "pgd_nsr", "cw_linf", "sap"]
    for case in sorted(BAD)
    if not (name == "fgsm" and "step_size" in BAD[case])  # FGSM's step is eps: no step size to refuse
]


@pytest.mark.parametrize("name, case", BAD_CASES)
def test_bad_input_raises_before_compute(trained_mlp, data, name, case):
    x, y = data
    x, y = x[:32], y[:32].clone()
    bad = dict(BAD[case])
    eps = bad.pop("eps", 0.03)
    if "y_shift" in bad:
        y = y + bad.pop("y_shift")
    model = _Counting(trained_mlp)
    fn = {"fgsm": fgsm, "bim": bim, "pgd": pgd, "pgd_nsr": pgd_nsr, "cw_linf": cw_linf, "sap": sap}[name]
    with pytest.raises(AttackError):
        fn(model, x, y, eps, bounds=BOUNDS, **bad)
    assert all(r == 1 for r in model.rows), model.rows  # at most the one-row class-count probe


@pytest.mark.parametrize(
    "kw",
    [dict(steps=0), dict(steps=2.5), dict(restarts=0), dict(variant="adam"), dict(loss="mse"), dict(kappa=-1.0), dict(restarts=2, random_start=False)],
)
def test_bad_pgd_options_raise(trained_mlp, data, kw):
    x, y = data
    model = _Counting(trained_mlp)
    with pytest.raises(AttackError):
        pgd(model, x[:8], y[:8], 0.03, **kw)
    assert all(r == 1 for r in model.rows)


# ------------------------------------------------- the strongest iterate, not the last one


class _Oscillating(nn.Module):
    """Two classes on a scalar input u (the mean of x): z = (0, s (cos(w (u - c)) - 0.9)). The true
    class is 0; the sample is misclassified only in a narrow band around c, and the CE loss peaks at c.
    Sign steps larger than the band overshoot c and oscillate around it, so the loss goes up and down
    and the last iterate can be weaker than an earlier one (or leave the misclassified band)."""

    def __init__(self, s=5.0, w=10.0, c=0.5):
        super().__init__()
        self.s, self.w, self.c = s, w, c
        self.dummy = nn.Parameter(torch.zeros(()))  # a weight, to check it is left alone

    def forward(self, x):
        u = x.flatten(1).mean(1)
        z1 = self.s * (torch.cos(self.w * (u - self.c)) - 0.9) + self.dummy
        return torch.stack([torch.zeros_like(z1), z1], dim=1)


def _trajectory(model, y, state, step, steps, *, project, to_input=lambda s: s):
    """state^{t+1} = project(state^t + step sign(grad CE(model(to_input(state^t))))): every input the model
    saw (x^0 .. x^steps), with its loss and verdict."""
    xs, losses, fooled = [], [], []
    for _ in range(steps + 1):
        state = state.detach().requires_grad_(True)
        xa = to_input(state)
        logits = model(xa)
        loss = nn.functional.cross_entropy(logits, y, reduction="none")
        (grad,) = torch.autograd.grad(loss.sum(), state)
        xs.append(xa.detach().clone())
        losses.append(loss.detach())
        fooled.append(logits.argmax(1).detach() != y)
        state = project(state.detach() + step * grad.sign())
    return torch.stack(xs), torch.stack(losses), torch.stack(fooled)


def _strongest(xs, losses, fooled):
    """Per sample the iterate an attack must return (the first misclassified, else the highest loss), whether
    it was ever misclassified, and how many samples' last iterate is weaker (the cases the tests are about)."""
    ever = fooled.any(0)
    expected = torch.where(ever, fooled.float().argmax(0), losses.argmax(0))
    want = xs[expected, torch.arange(xs.shape[1])]
    left_band = int((ever & ~fooled[-1]).sum())
    lower_loss = int((~ever & (losses[-1] < losses.max(0).values - 1e-4)).sum())
    return want, ever, left_band, lower_loss


@pytest.mark.parametrize("attack", ["bim", "pgd", "pgd_no_cycle_check"])
def test_returns_strongest_iterate_not_last(attack):
    model = _Oscillating().eval()
    x = torch.linspace(0.0, 1.0, 41).view(-1, 1, 1)
    y = torch.zeros(41, dtype=torch.long)
    eps, step, steps = 1.0, 0.13, 11
    xs, losses, fooled = _trajectory(model, y, x.clone(), step, steps,
                                     project=lambda s: torch.min(torch.max(s, x - eps), x + eps))
    want, ever, left_band, lower_loss = _strongest(xs, losses, fooled)
    assert left_band >= 3 and lower_loss >= 3
    run = {
        "bim": lambda: bim(model, x, y, eps, steps=steps, step_size=step),
        "pgd": lambda: pgd(model, x, y, eps, steps=steps, step_size=step, random_start=False),
        "pgd_no_cycle_check": lambda: pgd(model, x, y, eps, steps=steps, step_size=step, random_start=False, cycle_check=0),
    }[attack]
    out = run()
    assert torch.allclose(out, want, atol=1e-6)
    with torch.no_grad():
        assert bool(((model(out).argmax(1) != y) == ever).all())


def test_sap_returns_strongest_smoothed_iterate_not_last():
    """SAP's theta iterates oscillate around the narrow misclassified band of ``_Oscillating`` too; the
    returned point is the smoothed iterate x + smooth(theta_i) chosen by the same rule as PGD's
    (steps of 0.13 on theta jump over the band, 0.09 wide, for some beats: they never enter it)."""
    model = _Oscillating().eval()
    n, length = 41, 30
    x = torch.linspace(0.0, 1.0, n).view(-1, 1, 1).expand(n, 1, length).contiguous()
    y = torch.zeros(n, dtype=torch.long)
    eps, step, steps = 0.4, 0.13, 11
    kernel = smoothing_kernel()
    # the reference trajectory: theta_0 = 0, theta_{i+1} = clip(theta_i + step sign(grad)), x_i = x + smooth(theta_i)
    xs, losses, fooled = _trajectory(model, y, torch.zeros_like(x), step, steps, project=lambda t: t.clamp(-eps, eps),
                                     to_input=lambda t: x + smooth(t, kernel))
    want, ever, left_band, lower_loss = _strongest(xs, losses, fooled)
    assert left_band >= 3 and lower_loss >= 2
    out = sap(model, x, y, eps, pgd_steps=0, steps=steps, step_size=step)
    assert torch.allclose(out, want, atol=1e-6)
    with torch.no_grad():
        assert bool(((model(out).argmax(1) != y) == ever).all())


def test_step_ratio_is_a_step_of_that_fraction_of_eps(trained_mlp, data):
    """Seed 001's CPSC PGD steps eps / 10 at every eps: ``step_ratio=0.1`` is ``step_size=eps / 10``."""
    x, y = data
    for eps in (0.01, 0.05):
        ratio = pgd(trained_mlp, x, y, eps, bounds=BOUNDS, steps=10, step_ratio=0.1, seed=3)
        fixed = pgd(trained_mlp, x, y, eps, bounds=BOUNDS, steps=10, step_size=eps / 10, seed=3)
        assert torch.equal(ratio, fixed)
    assert not torch.equal(pgd(trained_mlp, x, y, 0.05, bounds=BOUNDS, steps=10, step_ratio=0.2, seed=3), fixed)
    with pytest.raises(AttackError, match="not both"):
        pgd(trained_mlp, x, y, 0.05, steps=10, step_size=0.01, step_ratio=0.1)
    with pytest.raises(AttackError, match="step_ratio"):
        pgd(trained_mlp, x, y, 0.05, steps=10, step_ratio=-0.1)
