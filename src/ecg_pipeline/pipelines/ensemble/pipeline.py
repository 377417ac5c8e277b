"""``train_ens``: every ensemble of the declaration (``conf/base/parameters_ensembles.yml``), members one after
another.

Per ensemble ``<e>`` with base run ``<b>``: members ``<e>_m1``, ``<e>_m2`` (training template nodes, namespace =
member) write ``<member>.model``/``.history``; ``<run>.train_features`` caches a member's training-set features
(once per run, shared by every ensemble that uses it); ``<e>.assemble`` writes ``<e>.model``, the deployed ensemble
that the attack pipeline judges end to end like any model; ``<e>.transfer`` writes seed 004's transfer study.
The base run's model comes from its own family's pipeline (e.g. ``train_ce``).

An ensemble of another split (``splits:``, ``dec_mlp_ip`` on ``ce_mlp_ip``) reads its base block's parameters with
the base run's expansion bound (``expansion``, as the training template binds it), trains on that split's data, and
runs the transfer protocol of its database (``ensemble_transfer.<database>``: ``mitdb`` for ``mitdb_ip``).
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from ..declaration import Declaration, EnsembleDecl, Run
from ..params import bound_node_function
from .nodes import assemble, ensemble_transfer, member_features, train_member


def _features(run: str, train: str, ensembles: list[str]) -> Pipeline:
    """``<run>.train_features``, once per run; tagged with every ensemble that uses it (``--tags=<ensemble>``)."""
    return Pipeline([Node(member_features, ["model", "train"], "train_features", name="features")], namespace=run,
                    inputs={"model": f"{run}.model", "train": train}, tags=(run, "train_ens", *ensembles))


def ensemble_pipeline(ensemble: EnsembleDecl, base: Run) -> Pipeline:
    """Members 1.. (each after the members before it, through their cached features when decorrelated), the
    assembled ensemble and its transfer study. An ensemble declared ``members_of`` another trains nothing: it
    assembles the other's members its own way (e.g. ``combine: vote``) and runs its own transfer study."""
    splits = base.data
    nodes = []
    for i, member in enumerate(ensemble.members[1:] if ensemble.members_of is None else [], start=1):
        previous = [f"{m}.train_features" for m in ensemble.members[:i]] if ensemble.decorrelation else []
        nodes.append(Node(bound_node_function(train_member, ensemble=ensemble, member_index=i,
                                              expansion=base.expansion),
                          [splits.train, splits.validation, f"{member}.checkpoints", f"params:{base.section}", *previous],
                          [f"{member}.model", f"{member}.history"], name="train", namespace=member))
    nodes.append(Node(bound_node_function(assemble, ensemble=ensemble), [f"{m}.model" for m in ensemble.members],
                      f"{ensemble.name}.model", name="assemble", namespace=ensemble.name))
    protocol = splits.variant_of or splits.name   # a split of a database is judged by the database's protocol
    nodes.append(Node(bound_node_function(ensemble_transfer, ensemble=ensemble),
                      [f"{ensemble.name}.model", splits.test, f"params:ensemble_transfer.{protocol}",
                       *(f"{m}.train_features" for m in ensemble.members)],
                      f"{ensemble.name}.transfer", name="transfer", namespace=ensemble.name))
    return Pipeline(nodes, tags=(ensemble.name, "train_ens"))


def create_pipeline(declaration: Declaration) -> Pipeline:
    parts, featured = [], {}
    for ensemble in declaration.ensembles.values():
        base = declaration.runs[ensemble.base]
        parts.append(ensemble_pipeline(ensemble, base))
        for member in ensemble.members:
            featured.setdefault(member, (base.data.train, []))[1].append(ensemble.name)
    parts += [_features(run, train, ensembles) for run, (train, ensembles) in featured.items()]
    return sum(parts, Pipeline([]))
