"""Attack-generation nodes: parameters in, :mod:`ecg_pipeline.attacks.generation` called, sets out."""

from __future__ import annotations

import pandas as pd

from ecg_pipeline.attacks.generation import attack_summary, attacked_set, union_of_sets
from ecg_pipeline.runtime import resolve_device, torch_threads


def generate(model, beats: dict, settings: dict, *, attack: str, split: str, source: str) -> dict:
    """``attack``'s copy of ``split`` (``settings``: the ``attack_generation`` section)."""
    spec = settings["attacks"][attack]
    with torch_threads(settings.get("num_threads")):
        return attacked_set(model, beats, attack=attack, eps=spec["eps"], params=spec.get("params"),
                            per_class=spec.get("per_class"), seed=int(settings.get("seed", 0)),
                            batch_size=int(settings.get("batch_size", 512)),
                            device=resolve_device(settings.get("device", "auto")),
                            progress=bool(settings.get("progress", True)), source=f"{source} {split}")


def union(clean: dict, *attacked: dict) -> dict:
    return union_of_sets(clean, attacked)


def summarize(settings: dict, *sets: dict, keys: tuple[tuple[str, str], ...]) -> pd.DataFrame:
    eps = {attack: spec["eps"] for attack, spec in settings["attacks"].items()}
    return pd.DataFrame(attack_summary(dict(zip(keys, sets)), eps))
