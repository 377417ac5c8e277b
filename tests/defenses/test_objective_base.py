"""The objective protocol stated by :class:`Objective`: every registered objective derives from it, the defaults
do nothing, and a plain function is given them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ecg_pipeline.data.batches import Batches
from ecg_pipeline.defenses.checkpoints import CHECKPOINT_FILE
from ecg_pipeline.defenses.config import TrainingConfig
from ecg_pipeline.defenses.objective_base import FunctionObjective, Objective, as_objective
from ecg_pipeline.defenses.objectives import OBJECTIVES, AtkGan, CrossEntropy, build_objective
from ecg_pipeline.defenses.trainer import train
from ecg_pipeline.models import build_model


def test_every_registered_objective_is_an_objective_named_as_registered():
    for name, cls in OBJECTIVES.items():
        assert issubclass(cls, Objective) and cls.name == name
    assert OBJECTIVES["atk_gan"] is AtkGan and AtkGan.companions == ("generator",)
    assert OBJECTIVES["decorrelation"].extras == ("previous_features",)


def test_the_defaults_do_nothing():
    objective = build_objective("ce")
    assert (objective.extras, objective.companions) == ((), ())
    assert objective.state_dict() is None and objective.companion_models() == {}
    objective.load_state_dict({})
    assert objective.bind(None, torch.device("cpu"), None) is None
    assert objective.check_training_set(None, None, 1) is None


def test_a_plain_function_trains_like_the_objective_it_computes(synthetic_beats, tmp_path):
    def plain(model, x, y, mask, epoch):
        logits = model(x)
        return F.cross_entropy(logits, y), logits, {}

    assert as_objective(CrossEntropy()).__class__ is CrossEntropy
    assert isinstance(as_objective(plain), FunctionObjective)
    data = Batches(synthetic_beats(8))
    config = TrainingConfig(model={"name": "mlp"}, epochs=1, batch_size=32, seed=0, device="cpu", progress=False)
    models = []
    for objective, folder in ((plain, tmp_path), (CrossEntropy(), None)):
        torch.manual_seed(0)
        models.append(train(build_model("mlp"), data, None, config, objective=objective, checkpoint_dir=folder)[0])
    assert all(torch.equal(a, b) for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True))
    assert torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)["objective"] is None


def test_a_new_objective_registers_itself_by_name():
    """Adding an objective is one module: defining the class registers it, and ``build_objective`` (what a run's
    ``objective.name`` goes through) finds it with its parameters. Nothing else is edited."""
    class Squared(Objective):
        name = "squared_for_test"

        def __init__(self, weight: float = 1.0):
            self.weight = weight

        def __call__(self, model, x, y, mask, epoch, extra=None):
            logits = model(x)
            return self.weight * (logits ** 2).mean(), logits, {}

    try:
        assert OBJECTIVES["squared_for_test"] is Squared
        built = build_objective("squared_for_test", weight=2.0)
        assert isinstance(built, Squared) and built.weight == 2.0
    finally:
        OBJECTIVES.pop("squared_for_test", None)
    assert "squared_for_test" not in OBJECTIVES


def test_an_objective_without_a_name_or_with_a_taken_name_is_refused():
    with pytest.raises(TypeError, match="set the class attribute `name`"):
        class Nameless(Objective):
            pass
    with pytest.raises(TypeError, match="already taken by .*NSR"):
        class Impostor(Objective):
            name = "nsr"
    assert OBJECTIVES["nsr"].__name__ == "NSR"

    class Wrapped(CrossEntropy):   # a variant that keeps its parent's name is not registered in its place
        pass
    assert OBJECTIVES["ce"] is CrossEntropy and Wrapped.name == "ce"
