"""The objective protocol stated by :class:`Objective`: every registered objective derives from it, the defaults
do nothing, and a plain function is given them."""

from __future__ import annotations

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
