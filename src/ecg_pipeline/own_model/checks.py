"""The checks a model from outside the project passes before any attack runs, on a few real beats of the split
it is to be judged on (``PROBE_BEATS``), in this order, each refusal an :class:`~ecg_pipeline.errors.EcgModelError`
naming the model and the contract parameter:

1. it runs on beats of the declared length (``[n, 1, length]``; a model built for another length fails here);
2. it returns one row of ``len(classes)`` scores per beat (``[n, K]``);
3. every score is finite (no NaN or infinity);
4. two identical calls give identical scores (dropout or other randomness left on would let every attack chase a
   moving target, and report a robustness the deployed model does not have);
5. the scores have a gradient with respect to the input (the white-box attacks of the suite need it).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ecg_pipeline.errors import EcgModelError

from .contract import InputContract

PROBE_BEATS = 8
#: Two identical calls may differ by float rounding only (a deterministic model on one thread: not at all).
REPEAT_TOLERANCE = 1e-6


def check_model(model: nn.Module, contract: InputContract, beats: dict, name: str,
                section: str = "own_model.contract") -> None:
    """Refuse ``model`` unless it honours ``contract`` on the first :data:`PROBE_BEATS` beats of ``beats``."""
    x = torch.from_numpy(np.asarray(beats["x"][:PROBE_BEATS], dtype=np.float32)).reshape(-1, 1, contract.length)
    with torch.no_grad():
        first = _call(model, x, contract, name, section)
        if not isinstance(first, torch.Tensor) or first.dim() != 2 or first.shape[0] != x.shape[0]:
            shape = tuple(first.shape) if isinstance(first, torch.Tensor) else type(first).__name__
            raise EcgModelError(f"{name}: on {x.shape[0]} beats of shape {tuple(x.shape[1:])} the model returns "
                                f"{shape}; expected one row of scores per beat, [{x.shape[0]}, "
                                f"{contract.n_classes}] ('{section}.length' {contract.length})")
        if first.shape[1] != contract.n_classes:
            raise EcgModelError(f"{name}: the model returns {first.shape[1]} scores per beat, the contract "
                                f"('{section}.classes') lists {contract.n_classes} classes {list(contract.classes)}")
        if not torch.isfinite(first).all():
            bad = int((~torch.isfinite(first)).any(1).sum())
            raise EcgModelError(f"{name}: the model returns NaN or infinite scores on {bad} of {x.shape[0]} real "
                                "beats; expected finite logits")
        second = _call(model, x, contract, name, section)
    moved = float((second - first).abs().max())
    if moved > REPEAT_TOLERANCE * max(1.0, float(first.abs().max())):
        raise EcgModelError(f"{name}: two identical calls on the same beats give scores that differ by up to "
                            f"{moved:.3g} (training={model.training}): dropout or another random layer is left on; "
                            "call model.eval() before saving (torch.jit.save), so that it is judged as deployed")
    probe = x.clone().requires_grad_(True)
    scores = model(probe)
    if not scores.requires_grad:
        raise EcgModelError(f"{name}: the scores carry no gradient with respect to the input (detached or computed "
                            "without autograd); the white-box attacks of the suite need one")


def _call(model: nn.Module, x: torch.Tensor, contract: InputContract, name: str, section: str):
    try:
        return model(x)
    except Exception as err:  # whatever the user's forward raises on a beat of the wrong length
        raise EcgModelError(f"{name}: the model fails on beats of the declared length {contract.length} "
                            f"('{section}.length', scheme {contract.scheme}; input [{x.shape[0]}, 1, "
                            f"{contract.length}]): {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
                            ) from None
