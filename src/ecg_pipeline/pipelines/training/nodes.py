"""The training node: parameters in, :func:`ecg_pipeline.defenses.fit` called, artifacts out."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ecg_pipeline.defenses import TrainingConfig
from ecg_pipeline.defenses.fit import fit_with_companions

from ..declaration.expansion import expanded_params
from ..declaration.model import RUN_KEYS
from ..params import with_overrides


def train(train_set: dict, validation_set: dict, checkpoints: Path, params: dict, *, run_name: str,
          section: str, pipeline: str, overrides: dict | None = None,
          companions: tuple[str, ...] = (), expansion: dict | None = None) -> tuple[dict, ...]:
    """Train run ``run_name`` (``params``: its section of conf/, with a sweep member's ``overrides``),
    an instance in registered pipeline ``pipeline``: (model, history, then each of ``companions``, the other
    models its objective trains)."""
    params = expanded_params(params, expansion)   # a block's seeds/splits run: its seed (pipelines.declaration.expansion)
    config = TrainingConfig.from_params(with_overrides(params, overrides, run_name), section, ignore=RUN_KEYS)
    command = resume_command(pipeline, run_name, resume=config.resume, section=section)
    model, meta, history, trained = fit_with_companions(config, train_set, validation_set, checkpoints=checkpoints,
                                                        run_name=run_name, resume_command=command)
    return ({"model": model, "meta": meta}, pd.DataFrame(history),
            *({"model": trained[name], "meta": {**meta, "role": name}} for name in companions))


#: how the running ``kedro run`` was invoked (``env``, ``runtime_params``), recorded by TrainingProgressHook
#: so that the resume command repeats the settings that the checkpoint's fingerprint depends on
invocation: dict = {}


def resume_command(pipeline: str, run_name: str, *, resume: str = "auto", section: str | None = None) -> str:
    """The command that trains just this instance again (same ``--env`` and ``--params``), which resumes
    from its checkpoint: without a ``runs.<run>.resume`` override (the checkpoint an interrupted run leaves is
    its own, which ``auto`` resumes), and with ``<section>.resume=auto`` where the run's ``resume`` is ``fresh``
    (which would start over again)."""
    command = f"kedro run --pipelines={pipeline} --namespaces={run_name}"
    if invocation.get("env") not in (None, "", "local"):  # local: the default run env
        command += f" --env={invocation['env']}"
    flat = {key: value for key, value in _dotted(invocation.get("runtime_params") or {}).items()
            if not (key.startswith("runs.") and key.endswith(".resume"))}
    if resume == "fresh" and section:
        flat[f"{section}.resume"] = "auto"
    if flat:
        command += " --params=" + ",".join(f"{key}={value}" for key, value in flat.items())
    return command


def _dotted(params: dict, prefix: str = "") -> dict[str, object]:
    """``{"runs": {"x": {"epochs": 10}}}`` -> ``{"runs.x.epochs": 10}`` (how ``--params`` spells them)."""
    flat = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(_dotted(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
