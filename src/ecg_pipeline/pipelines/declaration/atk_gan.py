"""ECG-ATK-GAN's own blocks: ``attack_generation`` (the six attacks crafted on a source run's model) and
``evaluate_atk_gan`` (the GAN and its baselines judged on the paper's protocol), checked before any node runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ecg_pipeline.attacks.generation import check_attack_name
from ecg_pipeline.attacks.registry import check_attack_params
from ecg_pipeline.data.labels import class_names
from ecg_pipeline.errors import EcgConfigError
from ecg_pipeline.models.registry import MODELS

from .model import AtkGanEvaluation, AttackGeneration, DataSplits, Run
from .validation import require_mapping


def data_classes(parameters: Mapping[str, Any], data: DataSplits) -> tuple[str, ...] | None:
    """The class names of ``data``'s beats, from its segmentation's ``label_set`` (None: not a beat set)."""
    if data.variant_of is not None:
        segmentation = (parameters.get(data.name) or {}).get("segmentation")
    else:  # the segmentation template's own parameters are MIT-BIH's; other databases are not beat sets
        segmentation = parameters.get("segmentation") if data.name == "mitdb" else None
    if not isinstance(segmentation, Mapping):
        return None
    return class_names(segmentation.get("label_set", "aami5"))


def _model_outputs(model: Mapping[str, Any]) -> int | None:
    """The number of outputs a model declaration builds (its ``n_classes``, else the model's default)."""
    import inspect

    if "n_classes" in model:
        return int(model["n_classes"])
    default = inspect.signature(MODELS[model["name"]].__init__).parameters.get("n_classes")
    return None if default is None or default.default is inspect.Parameter.empty else int(default.default)


def read_attack_generation(spec: Any, parameters: Mapping[str, Any], runs: dict[str, Run]) -> AttackGeneration | None:
    """``attack_generation: {source, attacks: {<one of the six>: {eps, per_class, params}}, ...}``: checked
    before any node runs (the source run, its classes against its data's, each attack's name and keys)."""
    if spec is None:
        return None
    spec = require_mapping(spec, "attack_generation")
    source = spec.get("source")
    if source not in runs:
        raise EcgConfigError(f"parameters 'attack_generation.source': expected a run declared under 'runs' "
                             f"(declared: {sorted(runs)}), got {source!r}")
    run = runs[source]
    classes = data_classes(parameters, run.data)
    model = dict(parameters["runs"][source].get("model") or {})
    outputs = _model_outputs(model)
    if classes is not None and outputs is not None and outputs != len(classes):
        raise EcgConfigError(f"parameters 'runs.{source}.model': the source classifier of attack_generation has "
                             f"{outputs} outputs (n_classes), its data {run.data.name!r} has {len(classes)} classes "
                             f"{list(classes)}")
    attacks = require_mapping(spec.get("attacks"), "attack_generation.attacks")
    if not attacks:
        raise EcgConfigError("parameters 'attack_generation.attacks': expected at least one attack")
    for name, attack in attacks.items():
        where = f"attack_generation.attacks.{name}"
        check_attack_name(name, f"parameters '{where}'")
        attack = require_mapping(attack, where)
        unknown = sorted(set(attack) - {"eps", "per_class", "params"})
        if unknown:
            raise EcgConfigError(f"parameters '{where}': unknown key(s) {unknown}; expected eps, per_class, params")
        eps = attack.get("eps")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps <= 0:
            raise EcgConfigError(f"parameters '{where}.eps': expected a number > 0 (L-inf radius in beat units), got {eps!r}")
        check_attack_params(name, attack.get("params"), f"{where}.params")
        per_class = attack.get("per_class")
        if per_class is not None and (isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1):
            raise EcgConfigError(f"parameters '{where}.per_class': expected a count >= 1 of beats per class, or null "
                                 f"(every beat), got {per_class!r}")
    return AttackGeneration(source, run.data, tuple(attacks))


ATK_GAN_EVALUATION_KEYS = ("gan", "baselines", "seed", "batch_size", "device", "num_threads", "progress", "evasion")
EVASION_KEYS = ("eps", "attacks", "losses", "steps", "step_size", "restarts", "per_class")


def read_atk_gan_evaluation(spec: Any, parameters: Mapping[str, Any], runs: dict[str, Run],
                            declared_data: dict[str, DataSplits]) -> AtkGanEvaluation | None:
    """``evaluate_atk_gan: {gan, baselines, evasion: {...}, ...}``: the GAN run must train a three-head discriminator
    with the atk_gan objective on data judged on another (its clean beats); every baseline must be a declared run
    on that clean data or on the GAN's data; every evasion loss a PGD loss."""
    from ecg_pipeline.attacks.losses import HEAD_LOSSES, LOSSES

    if spec is None:
        return None
    spec = require_mapping(spec, "evaluate_atk_gan")
    unknown = sorted(set(spec) - set(ATK_GAN_EVALUATION_KEYS))
    if unknown:
        raise EcgConfigError(f"parameters 'evaluate_atk_gan': unknown key(s) {unknown}; expected some of "
                             f"{list(ATK_GAN_EVALUATION_KEYS)}")
    gan = spec.get("gan")
    run = runs.get(gan)
    objective = ((parameters.get("runs") or {}).get(gan) or {}).get("objective") or {}
    if run is None or "generator" not in run.companions or objective.get("name") != "atk_gan":
        raise EcgConfigError(f"parameters 'evaluate_atk_gan.gan': expected a declared run trained with objective atk_gan "
                             f"(a discriminator and its generator), got {gan!r} (runs with that objective: "
                             f"{sorted(n for n, r in runs.items() if 'generator' in r.companions)})")
    if run.data.judged_on is None:
        raise EcgConfigError(f"parameters 'data.{run.data.name}.judged_on': the GAN run {gan!r} trains on the union of "
                             "clean and attacked beats; name the data of its clean beats (e.g. atk_gan), on whose test "
                             "split it is attacked")
    clean = declared_data[run.data.judged_on]
    baselines = spec.get("baselines") or []
    if not isinstance(baselines, (list, tuple)) or not all(isinstance(b, str) for b in baselines):
        raise EcgConfigError(f"parameters 'evaluate_atk_gan.baselines': expected a list of run names, got {baselines!r}")
    for name in baselines:
        other = runs.get(name)
        if other is None or other.data.name not in (clean.name, run.data.name) or name == gan:
            raise EcgConfigError(f"parameters 'evaluate_atk_gan.baselines': {name!r} is not a declared run on data "
                                 f"{clean.name!r} or {run.data.name!r} (runs there: "
                                 f"{sorted(n for n, r in runs.items() if r.data.name in (clean.name, run.data.name) and n != gan)})")
    evasion = require_mapping(spec.get("evasion"), "evaluate_atk_gan.evasion")
    unknown = sorted(set(evasion) - set(EVASION_KEYS))
    if unknown:
        raise EcgConfigError(f"parameters 'evaluate_atk_gan.evasion': unknown key(s) {unknown}; expected some of "
                             f"{list(EVASION_KEYS)}")
    eps = evasion.get("eps")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise EcgConfigError(f"parameters 'evaluate_atk_gan.evasion.eps': expected a number > 0, got {eps!r}")
    losses = evasion.get("losses", ["ce", "evasion"])
    bad = [loss for loss in losses or [None] if loss not in LOSSES + HEAD_LOSSES]
    if bad:
        raise EcgConfigError(f"parameters 'evaluate_atk_gan.evasion.losses': {bad} are not PGD losses "
                             f"{list(LOSSES + HEAD_LOSSES)}")
    attacks = evasion.get("attacks", ["pgd", "apgd"])
    if not attacks or any(a not in ("pgd", "apgd") for a in attacks):
        raise EcgConfigError(f"parameters 'evaluate_atk_gan.evasion.attacks': expected some of ['pgd', 'apgd'] (the "
                             f"attacks that take the evasion loss), got {attacks!r}")
    return AtkGanEvaluation(gan, tuple(baselines), run.data.test, clean)
