"""Table 3's floor: the fidelity to the clean beat E_x of a generator that returns its input, G(E'_x) = E'_x, on the
stored ECG-ATK-GAN test union (``atk_gan_test_set``, written by ``attack_generation``), with the same measures and
code as ``evaluate_atk_gan`` (``ecg_pipeline.evaluation.atk_gan.fidelity_rows``). A trained generator's Table 3
row is to be read against it: at eps 0.01 the attacked beat itself is this close to E_x.

    python benchmarks/atk_gan_identity_fidelity.py [--env ENV] [--data-root /work/shared/data]

Run from the project root, after ``kedro run --pipelines=attack_generation``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from torch import nn

from ecg_pipeline.evaluation.atk_gan import fidelity_rows


class IdentityGenerator(nn.Module):
    """G(E'_x, E_y, z) = E'_x."""

    def __init__(self, n_classes: int):
        super().__init__()
        self.n_classes = n_classes

    def forward(self, x, y, z=None):
        return x.reshape(x.shape[0], 1, -1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=None)
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    bootstrap_project(Path.cwd())
    params = {"data_root": args.data_root} if args.data_root else {}
    with KedroSession.create(project_path=Path.cwd(), env=args.env, runtime_params=params) as session:
        test = session.load_context().catalog.load("atk_gan_test_set")
    rows, _ = fidelity_rows(IdentityGenerator(len(test["classes"])), test, run="identity")
    table = pd.DataFrame(rows)
    table = table[table["reference"] == "clean"].drop(columns=["run", "reference"])
    print(table.to_string(index=False, float_format=lambda v: f"{v:.6g}"))


if __name__ == "__main__":
    main()
