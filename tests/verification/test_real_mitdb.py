"""On real MIT-BIH beats: an MLP trained a few epochs, attacked by the project's APGD-CE; no beat the attack
breaks is certified by any bound, and every MILP break is a real misclassification inside the ball."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecg_pipeline.attacks.apgd import apgd_ce
from ecg_pipeline.data.balance import balanced_subset
from ecg_pipeline.verification import BROKEN, CERTIFIED, certified_examples, certify

EPS = 0.01


@pytest.fixture(scope="module")
def trained_mlp(trained_mitdb_mlp):
    model, parts = trained_mitdb_mlp(2000, 4)
    subset = balanced_subset(parts["test"]["y"], 60, seed=0)
    x = torch.from_numpy(parts["test"]["x"][subset][:, None, :].astype(np.float32))
    y = torch.from_numpy(parts["test"]["y"][subset].astype(np.int64))
    return model, x, y, subset


def test_no_beat_the_attack_breaks_is_certified(trained_mlp):
    model, x, y, subset = trained_mlp
    with torch.no_grad():
        clean_wrong = (model(x).argmax(1) != y).numpy()
        broken = (model(apgd_ce(model, x, y, EPS, bounds=(0.0, 1.0), steps=50, seed=0)).argmax(1) != y).numpy()
    assert 0.6 < 1 - clean_wrong.mean() and broken.sum() > clean_wrong.sum()   # a real, attackable model
    certificates = {}
    for method in ("ibp", "crown", "alpha_crown"):
        cert = certify(model, x, y, EPS, method=method, alpha_steps=10)
        certificates[method] = cert
        assert not (cert.certified & broken).any(), f"{method} certified {int((cert.certified & broken).sum())} broken beats"
        assert ((cert.outcome == BROKEN) == clean_wrong).all()
    assert certificates["crown"].certified.sum() >= certificates["ibp"].certified.sum()
    assert certificates["alpha_crown"].certified.sum() >= certificates["crown"].certified.sum() > 0.2 * len(y)
    # the bracket: certified lower bound <= attack upper bound, per beat
    stored = certified_examples([certify(model, x, y, 0.0), certificates["crown"]], subset)
    assert stored["pred"].shape == (2, len(y)) and stored["outcome"].dtype == np.int8
    assert ((stored["pred"][1] == y.numpy()) == (stored["outcome"][1] == CERTIFIED)).all()
    assert (stored["outcome"][0] == CERTIFIED).sum() == (~clean_wrong).sum()   # eps 0: every correct beat


def test_every_milp_break_is_a_real_misclassification_inside_the_ball(trained_mlp):
    model, x, y, _ = trained_mlp
    with torch.no_grad():
        clean_right = (model(x).argmax(1) == y).numpy()
        x_adv = apgd_ce(model, x, y, EPS, bounds=(0.0, 1.0), steps=50, seed=0)
        logits = model(x_adv)
    margin = (logits.gather(1, y[:, None])[:, 0] - logits.scatter(1, y[:, None], -np.inf).amax(1)).numpy()
    # the two beats the attack breaks most clearly, and the one it leaves with the smallest margin
    broken, unbroken = np.flatnonzero(clean_right & (margin < 0)), np.flatnonzero(clean_right & (margin > 0))
    chosen = np.concatenate([broken[np.argsort(margin[broken])[:2]], unbroken[np.argsort(margin[unbroken])[:1]]])
    cert = certify(model, x[chosen], y[chosen], EPS, method="milp", alpha_steps=10, milp_time_limit=8.0)
    assert (cert.outcome[:2] != CERTIFIED).all()          # the attack broke them: never robust
    assert (cert.outcome == BROKEN).sum() >= 1
    for position, point in cert.counterexamples.items():
        beat = x[chosen[position]].double().numpy().reshape(-1)
        assert np.abs(point - beat).max() <= EPS + 1e-12 and point.min() >= 0.0 and point.max() <= 1.0
        with torch.no_grad():
            as_float32 = model(torch.from_numpy(point).float().reshape(1, 1, -1)).argmax(1)
            as_float64 = model.double()(torch.from_numpy(point).reshape(1, 1, -1)).argmax(1)
            model.float()
        assert int(as_float64) != int(y[chosen[position]]) and int(as_float64) == cert.counterexample_class[position]
        assert int(as_float32) != int(y[chosen[position]])
    assert cert.beat_seconds.shape == (3,)
