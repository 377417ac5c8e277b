"""The checks every block reader of the declaration shares: a section is a mapping, a block's name can be a Kedro
namespace, and a run's training configuration (objective, model, optimizer) is valid before anything trains."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ecg_pipeline.defenses.config import TrainingConfig
from ecg_pipeline.defenses.objectives import build_objective
from ecg_pipeline.defenses.optimisation import OPTIMIZERS
from ecg_pipeline.errors import EcgConfigError, EcgDataError
from ecg_pipeline.models.registry import MODELS, config_keys


def require_mapping(value: Any, where: str) -> dict:
    """``value`` as a dict (None: empty); anything else is an error naming the section ``where``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise EcgConfigError(f"parameters '{where}': expected a mapping, got {type(value).__name__}")
    return dict(value)


def block_name(name: str, what: str) -> str:
    """``name`` when it can name a block (and so a Kedro namespace): non-empty, without '.' or '@'."""
    if not isinstance(name, str) or not name or "." in name or "@" in name:
        raise EcgConfigError(f"{what} name {name!r}: must be a non-empty name without '.' or '@' "
                             "(Kedro namespaces are dot-separated)")
    return name


def check_training(config: TrainingConfig, section: str) -> None:
    """What a training run would otherwise find wrong only when it starts (after earlier runs trained):
    the objective and its values, the model name and its keys, the optimizer."""
    objective = config.objective_params()
    try:
        build_objective(objective.pop("name"), **objective)
    except EcgDataError as err:
        where = f"{section}.objective.{err.key}" if err.key else f"{section}.objective"
        raise EcgConfigError(f"parameters '{where}': {err}") from None
    model = config.model
    if not isinstance(model, Mapping) or "name" not in model:
        raise EcgConfigError(f"parameters '{section}.model': expected a mapping with a 'name' (one of {sorted(MODELS)}), "
                             f"got {model!r}")
    if not isinstance(model["name"], str) or model["name"] not in MODELS:
        raise EcgConfigError(f"parameters '{section}.model.name': unknown model {model['name']!r}; "
                             f"expected one of {sorted(MODELS)}")
    accepted = config_keys(model["name"])
    unknown = sorted(set(model) - {"name"} - set(accepted))
    if unknown:
        raise EcgConfigError(f"parameters '{section}.model': unknown key(s) {unknown} for model {model['name']!r}; "
                             f"expected some of {accepted}")
    if config.optimizer not in OPTIMIZERS:
        raise EcgConfigError(f"parameters '{section}.optimizer': unknown optimizer {config.optimizer!r}; "
                             f"expected one of {sorted(OPTIMIZERS)}")


def declared_data(named: Any, data: Mapping[str, Any], key: str, what: str = "") -> tuple[str, ...]:
    """A block's ``data`` (``key`` names it in the error): one declared data or a non-empty list of distinct ones;
    ``what`` says in the error what the list is for."""
    names = [named] if isinstance(named, str) else named
    if (not isinstance(names, (list, tuple)) or not names or len(set(names)) != len(names)
            or any(d not in data for d in names)):
        raise EcgConfigError(f"parameters '{key}': expected one of {sorted(data)} or a list of them{what}, got "
                             f"{named!r}")
    return tuple(names)
