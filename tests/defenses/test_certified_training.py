"""Certified training (``defenses.bounds``, ``defenses.objectives.certified``): IBP and CROWN-IBP bounds and losses
worked out by hand on a 2-2-2 ReLU net, the ramps at chosen steps, soundness on random points of the box, agreement
with the verifier (``ecg_pipeline.verification``) on the registry's models, unknown layers refused by name, and a
short IBP training on real MIT-BIH beats that certifies more beats than a plain CE model."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from ecg_pipeline.data.balance import upsample
from ecg_pipeline.defenses.bounds import crown_ibp_margins, ibp_margins
from ecg_pipeline.defenses.objectives import build_objective
from ecg_pipeline.defenses.objectives.certified import CrownIBP, IBP, linear_ramp
from ecg_pipeline.errors import EcgModelError
from ecg_pipeline.models import build_model
from ecg_pipeline.verification import certify
from ecg_pipeline.verification import bounds as verifier_bounds
from ecg_pipeline.verification.network import translate


X, Y, EPS = torch.tensor([[[0.5, 0.5]]]), torch.tensor([0]), 0.1


# By hand, box x1, x2 in [0.4, 0.6]: h1 = x1 + x2 in [0.8, 1.2] (active), h2 = x1 - x2 in [-0.2, 0.2] (unstable);
# a1 in [0.8, 1.2], a2 in [0, 0.2]; z0 = 2 a1 - a2 in [1.4, 2.4], z1 = a1 + a2 + 0.5 in [1.3, 1.9].
# Elided margin z0 - z1 = a1 - 2 a2 - 0.5 >= 0.8 - 0.4 - 0.5 = -0.1; not elided: l0 - u1 = 1.4 - 1.9 = -0.5.
# CROWN-IBP: row [1, -2] on a; a1 exact; a2 (coefficient -2 < 0) by its chord 0.5 h2 + 0.1: bias -0.5 - 0.2 = -0.7,
# coefficient on x: [1, -1] W1 = [0, 2]; min over the box: 2 * 0.4 - 0.7 = 0.1, the true minimum (x = (0.6, 0.4)).
def test_ibp_margins_of_the_hand_net(hand_net):
    model = hand_net()
    assert ibp_margins(model, X, Y, EPS, bounds=None)[0].tolist() == pytest.approx([0.0, -0.1], abs=1e-6)
    assert ibp_margins(model, X, Y, EPS, bounds=None, elide=False)[0].tolist() == pytest.approx([0.0, -0.5], abs=1e-6)
    # y = 1: margin z1 - z0 = -a1 + 2 a2 + 0.5 >= -1.2 + 0 + 0.5 = -0.7
    assert ibp_margins(model, X, torch.tensor([1]), EPS, bounds=None)[0].tolist() == pytest.approx([-0.7, 0.0], abs=1e-6)
    # The data bounds clip the box: with bounds (0, 0.55) x lies in [0.4, 0.55]^2, h2 in [-0.15, 0.15]:
    # margin >= 0.8 - 0.3 - 0.5 = 0.0
    assert ibp_margins(model, X, Y, EPS, bounds=(0.0, 0.55))[0, 1].item() == pytest.approx(0.0, abs=1e-6)


def test_crown_ibp_margin_of_the_hand_net_is_the_true_minimum(hand_net):
    assert crown_ibp_margins(hand_net(), X, Y, EPS, bounds=None)[0].tolist() == pytest.approx([0.0, 0.1], abs=1e-6)


def test_ibp_loss_of_the_hand_net_after_the_ramp(hand_net):
    """Gowal et al. eq. 7 at kappa 0.5, eps 0.1: 0.5 CE((2, 1.5), 0) + 0.5 CE((0, 0.1), 0), by hand."""
    objective = IBP(eps_train=EPS, kappa_end=0.5, warmup_steps=0, ramp_steps=2, bounds=None)
    model = hand_net()
    for _ in range(2):
        objective(model, X, Y, None, 1)
    loss, logits, stats = objective(model, X, Y, None, 1)
    clean, bound = math.log(1 + math.exp(-0.5)), math.log(1 + math.exp(0.1))
    assert logits[0].tolist() == pytest.approx([2.0, 1.5])
    assert (stats["eps"], stats["kappa"]) == (pytest.approx(EPS), 0.5)
    assert loss.item() == pytest.approx(0.5 * clean + 0.5 * bound, abs=1e-6)
    assert stats["certified"] == 0.0   # margin -0.1
    # CROWN-IBP at beta 0.5 (mid-ramp of beta, eps already full): margin 0.5 * (-0.1) + 0.5 * 0.1 = 0: CE = log 2
    crown = CrownIBP(eps_train=EPS, kappa_end=0.0, warmup_steps=0, ramp_steps=2, bounds=None)
    crown.eps_at = lambda step: EPS
    crown.step = 1
    loss, _, stats = crown(model, X, Y, None, 1)
    assert (crown.beta_at(1), stats["kappa"]) == (0.5, 0.5)
    assert loss.item() == pytest.approx(0.5 * clean + 0.5 * math.log(2), abs=1e-6)


def test_the_ramps_at_chosen_steps():
    objective = CrownIBP(eps_train=0.02, kappa_end=0.5, warmup_steps=10, ramp_steps=40)
    assert [objective.eps_at(s) for s in (0, 9, 10, 20, 30, 50, 1000)] == pytest.approx(
        [0.0, 0.0, 0.0, 0.005, 0.01, 0.02, 0.02])
    assert [objective.kappa_at(s) for s in (0, 10, 30, 50, 60)] == pytest.approx([1.0, 1.0, 0.75, 0.5, 0.5])
    assert [objective.beta_at(s) for s in (0, 10, 20, 50)] == pytest.approx([1.0, 1.0, 0.75, 0.0])
    assert linear_ramp(5, 1.0, 0.0, 0, 0) == 0.0   # no ramp: the end value at once


def test_the_warmup_is_plain_cross_entropy_and_the_step_counter_is_the_state(hand_net):
    objective, model = IBP(eps_train=0.1, warmup_steps=2, ramp_steps=4), hand_net()
    loss, logits, _ = objective(model, X, Y, None, 1)
    assert loss.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, Y).item())
    assert objective.state_dict() == {"step": 1}
    resumed = IBP(eps_train=0.1, warmup_steps=2, ramp_steps=4)
    resumed.load_state_dict({"step": 5})
    assert resumed(model, X, Y, None, 1)[2]["eps"] == pytest.approx(0.075)


@pytest.mark.parametrize("name", ["mlp", "kachuee_cnn"])
def test_the_bounds_contain_the_logits_of_points_in_the_box(name):
    torch.manual_seed(0)
    model = build_model(name).eval()
    x, y, eps = torch.rand(6, 1, 187) * 0.8 + 0.1, torch.arange(6) % 5, 0.02
    bound = ibp_margins(model, x, y, eps)
    crown = crown_ibp_margins(model, x, y, eps) if name == "mlp" else bound
    with torch.no_grad():
        for _ in range(20):
            point = (x + eps * (2 * torch.rand_like(x) - 1)).clamp(0, 1)
            z = model(point)
            margins = z.gather(1, y.view(-1, 1)) - z
            assert (margins >= bound - 1e-4).all() and (margins >= crown - 1e-4).all()


@pytest.mark.parametrize("name", ["mlp", "kachuee_cnn"])
def test_the_bounds_agree_with_the_verifier(name, trained_mitdb_mlp):
    """The verifier's float64 IBP (and, for the MLP, its CROWN with IBP intermediate bounds) on the same beats."""
    if name == "mlp":
        model, parts = trained_mitdb_mlp(1500, 3)
    else:
        torch.manual_seed(0)
        model, parts = build_model(name).eval(), trained_mitdb_mlp(1500, 3)[1]
    x = torch.from_numpy(parts["test"]["x"][:32, None, :].astype(np.float32))
    y = torch.from_numpy(parts["test"]["y"][:32].astype(np.int64))
    network = translate(model)
    lower, upper = verifier_bounds.input_box(x, 0.01, (0.0, 1.0), network.input_shape)
    spec, others = verifier_bounds.margin_spec(y, 5), verifier_bounds.other_classes(y, 5)
    expected = verifier_bounds.ibp_margins(network, lower, upper, spec)
    found = ibp_margins(model, x, y, 0.01).detach().gather(1, others).double()
    assert torch.allclose(found, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))
    if name == "mlp":
        layers = verifier_bounds.crown_bounds(network, lower, upper, intermediate="ibp")
        expected = layers.concretize(*layers.backward(len(network.ops), spec))
        found = crown_ibp_margins(model, x, y, 0.01).detach().gather(1, others).double()
        assert torch.allclose(found, expected, atol=1e-4)


def test_unknown_layers_and_the_cnn_under_crown_ibp_are_refused_by_name():
    model = build_model("mlp")
    model.body[1] = nn.Tanh()
    with pytest.raises(EcgModelError, match=r"layer 'body.1' of type Tanh"):
        IBP().bind(model, torch.device("cpu"), None)
    with pytest.raises(EcgModelError, match=r"convolution 'stem'"):
        build_objective("crown_ibp").bind(build_model("kachuee_cnn"), torch.device("cpu"), None)
    IBP().bind(build_model("kachuee_cnn"), torch.device("cpu"), None)   # IBP covers the CNN


def test_the_ibp_loss_of_the_cnn_reaches_every_layer():
    """One IBP step on the Kachuee CNN (residual blocks, max-pooling): a finite loss whose gradient reaches the stem."""
    torch.manual_seed(0)
    model, objective = build_model("kachuee_cnn"), IBP(eps_train=0.001, warmup_steps=0, ramp_steps=0)
    objective.bind(model, torch.device("cpu"), None)
    loss, _, stats = objective(model, torch.rand(4, 1, 187), torch.arange(4), None, 1)
    loss.backward()
    assert torch.isfinite(loss) and stats["ce_bound"] > stats["ce_clean"]
    assert model.stem.weight.grad.abs().sum() > 0 and model.blocks[4].conv2.weight.grad.abs().sum() > 0


def test_ibp_training_on_real_beats_certifies_more_than_cross_entropy(trained_mitdb_mlp):
    """300 Adam steps of IBP training (eps ramped to 0.015 after 50 CE steps, kappa to 0.5) on the same real beats as
    the fixture's CE MLP: IBP-certified accuracy at eps 0.01 (by the verifier) well above the CE model's (about 0.6
    against 0.0 on this subset)."""
    ce_model, parts = trained_mitdb_mlp(1500, 3)
    training = upsample(parts["train"], seed=0)
    x = torch.from_numpy(training["x"][:, None, :].astype(np.float32))
    y = torch.from_numpy(training["y"].astype(np.int64))
    torch.manual_seed(0)
    model = build_model("mlp")
    objective = IBP(eps_train=0.015, kappa_end=0.5, warmup_steps=50, ramp_steps=150)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    while objective.step < 300:
        for batch in torch.randperm(len(y))[: (300 - objective.step) * 128].split(128):
            loss, _, _ = objective(model, x[batch], y[batch], None, 1)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    model.eval()
    chosen = np.random.default_rng(0).choice(len(parts["test"]["y"]), 400, replace=False)
    x_test = torch.from_numpy(parts["test"]["x"][chosen, None, :].astype(np.float32))
    y_test = torch.from_numpy(parts["test"]["y"][chosen].astype(np.int64))
    certified = certify(model, x_test, y_test, 0.01, method="ibp").certified.mean()
    baseline = certify(ce_model, x_test, y_test, 0.01, method="ibp").certified.mean()
    assert certified > 0.4 and certified > baseline + 0.3


# Resume: as tests/defenses/test_resume.py does for the older objectives (10 batches an epoch, 3 epochs): killed in
# batch 6 of epoch 2 with a checkpoint after every batch, the resumed run is bit-identical to an uninterrupted one.
# Their state: TRADES's batch counter (its random starts), IBP / CROWN-IBP's step counter (where the ramps stand;
# the ramps are short here so that they move during the run).
NEW_OBJECTIVES = {
    "trades": lambda: build_objective("trades", beta=6.0, eps=0.05, steps=2, step_size=0.02, seed=3),
    "ibp": lambda: build_objective("ibp", eps_train=0.05, kappa_end=0.5, warmup_steps=3, ramp_steps=12),
    "crown_ibp": lambda: build_objective("crown_ibp", eps_train=0.05, kappa_end=0.0, warmup_steps=3, ramp_steps=12),
}


def _fit(sets, objective, checkpoint_dir=None, **kw):
    from ecg_pipeline.defenses.config import TrainingConfig
    from ecg_pipeline.defenses.trainer import train

    torch.manual_seed(0)
    config = TrainingConfig(**{"epochs": 3, "batch_size": 16, "seed": 0, "device": "cpu", "progress": False, **kw})
    return train(build_model("mlp"), *sets, config, objective=objective, checkpoint_dir=checkpoint_dir,
                 run_fingerprint="test", run_name="tiny", resume_command="kedro run")


def _killed_at(objective, epoch, batch):
    """``objective`` raising at the start of ``batch`` of ``epoch`` (1-based), as a crash or kill -9 would."""

    class Killed(type(objective)):
        calls: dict = {}

        def __call__(self, model, x, y, mask, e, **by_sample):
            self.calls[e] = self.calls.get(e, 0) + 1
            if (e, self.calls[e]) == (epoch, batch):
                raise RuntimeError("killed")
            return super().__call__(model, x, y, mask, e, **by_sample)

    objective.__class__ = Killed
    return objective


@pytest.mark.parametrize("name", list(NEW_OBJECTIVES))
def test_killed_mid_epoch_the_run_resumes_bit_identical(name, tmp_path, synthetic_beats):
    from ecg_pipeline.data.batches import Batches
    from ecg_pipeline.defenses.checkpoints import PARTIAL_CHECKPOINT_FILE

    sets = Batches(synthetic_beats(32, seed=0)), Batches(synthetic_beats(6, seed=1))   # 160 beats: 10 batches of 16
    (model_a, history_a) = _fit(sets, NEW_OBJECTIVES[name]())
    with pytest.raises(RuntimeError, match="killed"):
        _fit(sets, _killed_at(NEW_OBJECTIVES[name](), 2, 6), tmp_path, checkpoint_every_s=1e-6)
    saved = torch.load(tmp_path / PARTIAL_CHECKPOINT_FILE, weights_only=True)
    assert (saved["epoch"], saved["batch"]) == (1, 5)
    (model_b, history_b) = _fit(sets, NEW_OBJECTIVES[name](), tmp_path, checkpoint_every_s=1e-6)
    for (key, p), q in zip(model_a.named_parameters(), model_b.parameters(), strict=True):
        assert torch.equal(p, q), key
    drop = lambda history: [{k: v for k, v in row.items() if k != "seconds"} for row in history]  # noqa: E731
    assert drop(history_a) == drop(history_b)
    if name != "trades":
        assert history_a[-1]["train_eps"] == pytest.approx(0.05)   # the ramps ended within the run
