"""The training template, instantiated once per run by namespace; one pipeline per family.

Instance ``<run>`` reads ``params:runs.<run>`` and its data's training and validation splits, and
writes ``<run>.model`` (versioned state_dict + config), ``<run>.history`` (versioned per-epoch table)
and checkpoints under ``<run>.checkpoints`` (resumed when the same run starts again); a run whose objective
trains more models (ECG-ATK-GAN's generator) also writes each as ``<run>.<companion>``.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from ..declaration import Declaration, Run
from ..params import bound_node_function
from .nodes import train


def training_pipeline(run: Run, *, pipeline: str, name: str | None = None, overrides: dict | None = None,
                      tags: tuple[str, ...] = ()) -> Pipeline:
    """Instance ``name`` (default: the run's name) of the template, with ``run``'s parameters and data, in the
    registered pipeline ``pipeline`` (named in the command that resumes it after Ctrl-C).

    A sweep member is ``training_pipeline(base_run, pipeline="sweep", name="<sweep>.<member>", overrides={key: value})``.
    """
    name = name or run.name
    node = Node(bound_node_function(train, run_name=name, section=run.section, pipeline=pipeline, overrides=overrides,
                                    companions=run.companions, expansion=run.expansion),
                ["train", "validation", "checkpoints", "params:training"], ["model", "history", *run.companions],
                name="train")
    return Pipeline(
        [node],
        namespace=name,
        inputs={"train": run.data.train, "validation": run.data.validation},
        parameters={"params:training": f"params:{run.section}"},
        tags=(name, *tags),
    )


def create_pipelines(declaration: Declaration) -> dict[str, Pipeline]:
    """``train_<family>`` for every declared family: the template once per run of the family."""
    return {
        family.pipeline: Pipeline([training_pipeline(run, pipeline=family.pipeline, tags=(family.pipeline,))
                                   for run in declaration.runs_of(family.name)])
        for family in declaration.families.values()
    }
