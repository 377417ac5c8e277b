"""Decorrelated ensemble members, seed 004 eqs. (5) and (6)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.models import features_of

from ..decorrelation import check_projection, decorrelation_loss
from ..objective_base import Objective, ObjectiveResult, check_non_negative


class Decorrelated(Objective):
    """Cross-entropy plus decorrelation from the earlier members of an ensemble, seed 004 eq. (6):
    ``CE + lam * L_cor`` with ``L_cor`` of eq. (5) (:func:`ecg_pipeline.defenses.decorrelation.decorrelation_loss`).

    The earlier members' features on the training set, computed once, come with it as the per-sample array
    ``previous_features`` ``[n_train, members, D]``, so every batch carries its samples' rows. Roles and
    projections are drawn from a generator seeded by ``seed`` whose state a checkpoint keeps, so a resumed run
    draws the same.
    """

    name = "decorrelation"
    extras = ("previous_features",)

    def __init__(self, lam: float = 0.2, projection_dim: int | None = 32, seed: int = 0):
        check_non_negative(lam=lam)
        if projection_dim is not None and (isinstance(projection_dim, bool) or not isinstance(projection_dim, int)
                                           or projection_dim < 1):
            raise EcgDataError(f"decorrelation projection_dim must be a positive integer or null, got {projection_dim!r}",
                               key="projection_dim")
        self.lam, self.projection_dim, self.seed = lam, projection_dim, seed
        self.generator = torch.Generator().manual_seed(seed)

    def check_training_set(self, model, train_data, batch_size: int) -> None:
        """The cached features must be ``[n_train, members, D]`` with the model's feature width, and least
        squares must fit at this batch size."""
        x, _, mask, extra = train_data.take(np.arange(1))
        feature_dim = int(features_of(model, x, mask).shape[-1])
        previous = extra["previous_features"]
        if previous.ndim != 3 or previous.shape[2] != feature_dim:
            raise EcgDataError(f"decorrelation: earlier members' features are [n_train, members, D] = "
                               f"{[len(train_data), *previous.shape[1:]]}, expected D = {feature_dim} (the model's "
                               f"feature width)")
        check_projection(self.projection_dim, feature_dim, batch_size)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])

    def __call__(self, model, x, y, mask, epoch, extra=None) -> ObjectiveResult:
        features = features_of(model, x, mask)
        logits = model.head(features)
        ce = F.cross_entropy(logits, y)
        previous = extra["previous_features"].to(features.device, features.dtype).transpose(0, 1)
        cor, r2 = decorrelation_loss(features, previous, self.projection_dim, self.generator)
        return ce + self.lam * cor, logits, {"ce": ce.item(), "decorrelation": cor.item(), "r2": r2.item()}
