"""Clean metrics of a stored model on a whole stored split (the newest versions in this project's data/):
accuracy, balanced accuracy, macro F1, per-class F1, the confusion matrix, and on CinC 2017 the challenge F1.

    python benchmarks/clean_metrics.py ce_cinc cinc2017_test [--env ci] [--threads 1] [--batch 64]

The attack pipeline's eps-0 row gives the same metrics on its (class-balanced) subset; this is the whole split.
"""

from __future__ import annotations

import argparse

import torch
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from ecg_pipeline.data.batches import Batches
from ecg_pipeline.defenses.trainer import predict
from ecg_pipeline.evaluation.metrics import classification_metrics


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a model run: loads <run>.model")
    parser.add_argument("split", help="a catalog split, e.g. cinc2017_test")
    parser.add_argument("--env", default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    bootstrap_project(".")
    with KedroSession.create(env=args.env) as session:
        catalog = session.load_context().catalog
        model, data = catalog.load(f"{args.run}.model"), Batches(catalog.load(args.split))
    m = classification_metrics(data.y.numpy(), predict(model, data, batch_size=args.batch), data.n_classes, data.classes)
    print(args.run, args.split, {k: round(m[k], 4) for k in ("n", "accuracy", "balanced_accuracy", "macro_f1",
                                                            "cinc2017_f1") if k in m})
    print("per-class F1", {c: round(v["f1"], 4) for c, v in m["per_class"].items()}, "confusion", m["confusion"])
    return m


if __name__ == "__main__":
    main()
