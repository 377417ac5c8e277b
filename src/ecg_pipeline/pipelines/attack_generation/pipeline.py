"""``attack_generation`` (ECG-ATK-GAN, seed 002 Fig. 1): the source classifier (a run of the training
template, ``attack_generation.source``) trained clean, then each of the six attacks on each split of its
data, one versioned ``atk_gan.<attack>.<split>`` each, and their union with the clean split,
``atk_gan_<split>_set`` (the GAN's E'_x for the training split), with ``atk_gan_attack_summary``.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from ..declaration import Declaration
from ..params import bound_node_function
from ..training import training_pipeline
from .nodes import generate, summarize, union

PIPELINE = "attack_generation"
NAMESPACE = "atk_gan"


def create_pipeline(declaration: Declaration) -> Pipeline:
    spec = declaration.attack_generation
    if spec is None:
        return Pipeline([])
    source = declaration.runs[spec.source]
    splits = {split: getattr(spec.data, split) for split in spec.splits}
    pipeline = training_pipeline(source, pipeline=PIPELINE, tags=(PIPELINE,))
    for attack in spec.attacks:
        nodes = [Node(bound_node_function(generate, attack=attack, split=split, source=source.name),
                      ["model", f"clean_{split}", "params:settings"], split, name=f"generate_{split}")
                 for split in splits]
        pipeline += Pipeline(nodes, namespace=f"{NAMESPACE}.{attack}",
                             inputs={"model": f"{source.name}.model", **{f"clean_{split}": name for split, name in splits.items()}},
                             parameters={"params:settings": "params:attack_generation"}, tags=(PIPELINE,))
    copies = {split: [f"{NAMESPACE}.{attack}.{split}" for attack in spec.attacks] for split in splits}
    pipeline += Pipeline(
        [Node(union, [name, *copies[split]], f"{NAMESPACE}_{split}_set", name=f"{NAMESPACE}_{split}_set")
         for split, name in splits.items()]
        + [Node(bound_node_function(summarize, keys=tuple((a, s) for s in splits for a in spec.attacks)),
                ["params:attack_generation", *(c for s in splits for c in copies[s])], f"{NAMESPACE}_attack_summary",
                name=f"{NAMESPACE}_attack_summary")],
        tags=(PIPELINE,),
    )
    return pipeline
