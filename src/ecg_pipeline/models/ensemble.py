"""An ensemble of trained members as deployed: one model that attacks can run end to end.

``combine="mean_logits"`` averages the members' logits (differentiable: white-box attacks go through every
member and every member's Fourier stage). ``combine="vote"`` returns the majority vote as scores: the vote
count of each class plus ``1e-3`` times the mean softmax (a number below 1e-3, so it never outweighs one vote).

**Tie rule of the vote**: the class with the most member votes wins; among classes tied on votes, the one with
the highest mean softmax probability over the members wins (with three members and five classes a tie is a
1-1-1 split: the most confident of the three voted classes; a class no member voted for never wins).

The vote is piecewise constant, so its gradient carries only the tie-break term's direction: the adaptive
protocol for it (``autoattack`` with ``surrogates``) crafts white-box attacks on differentiable surrogates (the
same members' mean logits, each member, the vote scores themselves) and judges every candidate by the vote, then
runs the score-based Square on the vote's own scores; see :meth:`Ensemble.surrogates`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ecg_pipeline.errors import EcgDataError

from .forward import logits_of
from .registry import build_model, model_spec, register_model

COMBINES = ("mean_logits", "vote")
#: What :meth:`Ensemble.surrogates` knows: the model itself, its members' mean logits, each member.
SURROGATES = ("self", "mean_logits", "members")
TIE_BREAK = 1e-3


@register_model("ensemble")
class Ensemble(nn.Module):
    """Members given as registry specs ``[{"name": ..., **config}, ...]`` (so a saved ensemble rebuilds from its
    config like any registry model); :meth:`of` assembles one from trained models, weights included. It has no
    single ``features``/``head``: its members do."""

    def __init__(self, members: Sequence[dict[str, Any]] = (), combine: str = "mean_logits") -> None:
        super().__init__()
        if combine not in COMBINES:
            raise EcgDataError(f"ensemble combine must be one of {list(COMBINES)}, got {combine!r}", key="combine")
        if len(members) < 1 or not all(isinstance(m, dict) and "name" in m for m in members):
            raise EcgDataError(f"an ensemble needs one or more member specs {{'name': ..., **config}}, got {members!r}",
                               key="members")
        self.members = nn.ModuleList(build_model(**m) for m in members)
        self.combine = combine
        self.uses_mask = any(getattr(m, "uses_mask", False) for m in self.members)
        self.model_config = {"members": [dict(m) for m in members], "combine": combine}

    @classmethod
    def of(cls, models: Sequence[nn.Module], combine: str = "mean_logits") -> Ensemble:
        """The ensemble of trained registry models, with their weights."""
        specs = [{"name": s["name"], **s["config"]} for s in map(model_spec, models)]
        ensemble = cls(specs, combine)
        for member, model in zip(ensemble.members, models):
            member.load_state_dict(model.state_dict())
        ensemble.model_name = "ensemble"
        return ensemble

    def member_logits(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """[members, n, classes]."""
        return torch.stack([logits_of(m, x, mask) for m in self.members])

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.member_logits(x, mask)
        if self.combine == "mean_logits":
            return logits.mean(0)
        votes = nn.functional.one_hot(logits.argmax(2), logits.shape[2]).sum(0).to(logits.dtype)
        return votes + TIE_BREAK * logits.softmax(2).mean(0)

    def view(self, combine: str) -> Ensemble:
        """The same members (shared, not copied) combined by ``combine``."""
        if combine not in COMBINES:
            raise EcgDataError(f"ensemble combine must be one of {list(COMBINES)}, got {combine!r}", key="combine")
        view = Ensemble.__new__(Ensemble)
        nn.Module.__init__(view)
        view.members, view.combine, view.uses_mask = self.members, combine, self.uses_mask
        view.model_config = {**self.model_config, "combine": combine}
        return view.train(self.training)

    def surrogates(self, names: Sequence[str]) -> list[tuple[str, nn.Module]]:
        """Differentiable stand-ins an adaptive attack crafts on (each candidate is judged by this model):
        ``self`` (this model), ``mean_logits`` (:meth:`view`), ``members`` (``member0``, ``member1``, ...)."""
        unknown = [n for n in names if n not in SURROGATES]
        if unknown or not names:
            raise EcgDataError(f"ensemble surrogates: expected some of {list(SURROGATES)}, got {list(names)!r}",
                               key="surrogates")
        out: list[tuple[str, nn.Module]] = []
        for name in names:
            if name == "self":
                out.append(("self", self))
            elif name == "mean_logits":
                out.append(("mean_logits", self.view("mean_logits")))
            else:
                out += [(f"member{i}", m) for i, m in enumerate(self.members)]
        return out
