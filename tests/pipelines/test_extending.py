"""What adding a training objective or an attack algorithm touches, measured on a copy of the source tree: one new
module dropped into its package, one block in the configuration, and nothing else edited. The pipelines are then
built in a fresh interpreter from that copy (the registries fill themselves at import). A run, an attack
configuration and a family are measured in ``test_declaration.py``; a database in ``tests/data/test_databases.py``;
the worked examples are in docs/extending.md."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

OBJECTIVE_MODULE = '''
"""Label smoothing (Szegedy et al. 2016, sec. 7): cross-entropy against (1 - s) one-hot + s / K."""
import torch.nn.functional as F

from ecg_pipeline.defenses.objective_base import Objective


class LabelSmoothing(Objective):
    name = "label_smoothing"

    def __init__(self, smoothing: float = 0.1):
        if not 0 <= smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing!r}")
        self.smoothing = smoothing

    def __call__(self, model, x, y, mask, epoch, extra=None):
        logits = model(x)
        return F.cross_entropy(logits, y, label_smoothing=self.smoothing), logits, {}
'''

ALGORITHM_MODULE = '''
"""Random sign (a one-step attack for the example): x + eps * sign(u), u uniform."""
import torch

from .base import project, register_attack


@register_attack("random_sign", gradient_free=True, effort_keys=("draws",))
def random_sign(model, x, y, eps, *, mask=None, bounds=None, seed=0, draws: int = 1):
    generator = torch.Generator().manual_seed(seed)
    delta = eps * torch.sign(torch.rand(x.shape, generator=generator) - 0.5)
    return project(x + delta, x, eps, mask, bounds)
'''

BUILD = '''
import json, sys
from kedro.config import OmegaConfigLoader
from ecg_pipeline.config_loader import CONFIG_LOADER_ARGS
from ecg_pipeline.pipeline_registry import build_pipelines
from ecg_pipeline.pipelines.declaration import read_declaration

parameters = OmegaConfigLoader(conf_source=sys.argv[1], env="base",
                               **{**CONFIG_LOADER_ARGS, "default_run_env": "base"})["parameters"]
parameters = dict(parameters)
for section, name, block in json.loads(sys.argv[2]):
    parameters[section] = {**parameters[section], name: block}
pipelines = build_pipelines(read_declaration(parameters))
print(json.dumps({name: sorted(n.name for n in p.nodes) for name, p in pipelines.items()}))
'''


def _pipelines(tree: Path, blocks: list) -> dict[str, list[str]]:
    conf = Path(__file__).resolve().parents[2] / "conf"
    result = subprocess.run([sys.executable, "-c", BUILD, str(conf), json.dumps(blocks)], cwd=tree,
                            env={"PYTHONPATH": str(tree / "src"), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _copy_of_the_source(tmp_path: Path) -> Path:
    shutil.copytree(SRC, tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return tmp_path


def test_an_objective_is_its_module_and_the_run_that_selects_it(tmp_path, base_parameters):
    tree = _copy_of_the_source(tmp_path)
    (tree / "src/ecg_pipeline/defenses/objectives/label_smoothing.py").write_text(textwrap.dedent(OBJECTIVE_MODULE))
    run = {**base_parameters["runs"]["ce_mlp"], "label": "LS",
           "objective": {"name": "label_smoothing", "smoothing": 0.1}}
    pipelines = _pipelines(tree, [["runs", "ls_mlp", run]])
    assert "ls_mlp.train" in pipelines["train_ce"]
    assert "ls_mlp.pgd.evaluate" in pipelines["attack"]

    # the same run on the untouched tree is refused at registration, naming the objective
    untouched = _copy_of_the_source(tmp_path / "untouched")
    conf = Path(__file__).resolve().parents[2] / "conf"
    refused = subprocess.run([sys.executable, "-c", BUILD, str(conf), json.dumps([["runs", "ls_mlp", run]])],
                             cwd=untouched, env={"PYTHONPATH": str(untouched / "src"), "PATH": "/usr/bin:/bin"},
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "unknown training objective 'label_smoothing'" in refused.stderr


def test_an_attack_algorithm_is_its_module_and_one_attack_block(tmp_path, base_parameters):
    tree = _copy_of_the_source(tmp_path)
    (tree / "src/ecg_pipeline/attacks/random_sign.py").write_text(textwrap.dedent(ALGORITHM_MODULE))
    block = {**base_parameters["attacks"]["fgsm"], "attack": "random_sign", "params": {"draws": 1}}
    pipelines = _pipelines(tree, [["attacks", "random_sign", block]])
    assert {"ce_mlp.random_sign.evaluate", "nsr_mlp.random_sign.evaluate"} <= set(pipelines["attack"])
