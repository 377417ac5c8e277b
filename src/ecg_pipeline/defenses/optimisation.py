"""Optimisation helpers shared by the trainer and objectives that train models of their own (ECG-ATK-GAN's
generator): the optimizers by name, one descent step, and the error a non-finite loss raises."""

from __future__ import annotations

import torch

from ecg_pipeline.errors import EcgDataError

OPTIMIZERS = {"adamax": torch.optim.Adamax, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the epoch and batch."""


def build_optimizer(name: str, params, **kwargs) -> torch.optim.Optimizer:
    """Optimizer ``name`` over ``params``. Unless ``kwargs`` say otherwise it updates all tensors at once
    (``foreach=True``; torch picks it by default on CUDA only): the same arithmetic, without a Python
    loop over the parameters, which is most of an MLP's optimizer step on CPU."""
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise EcgDataError(f"unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}") from None
    return cls(params, **{"foreach": True, **kwargs})


def descend(loss: torch.Tensor, opt: torch.optim.Optimizer, weights: list[torch.Tensor]) -> None:
    """One optimiser step on ``loss``, back-propagating to the weights only.

    Naming the weights keeps autograd from also computing d loss/dx for objectives whose input is a
    leaf that requires grad (NSR, Jacobian): about 8% of an NSR step on the Kachuee CNN.
    """
    opt.zero_grad(set_to_none=True)
    torch.autograd.backward(loss, inputs=weights)
    opt.step()
