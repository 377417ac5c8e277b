"""``attack``: every trained model x every attack of the grid, on the test split; PGD also on validation
(what model selection reads). Rerun one instance with ``--namespaces=<run>.<attack>``.

Models: the runs of ``train_ce``, ``train_nsr``, ``train_jacob`` and ``train_adv``, and the model each
sweep selected (``<sweep>.model``, see the ``sweep`` pipeline).
"""

from kedro.pipeline import Pipeline

from ..attack_evaluation import attack_pipeline
from ..sweep.nodes import read_sweeps
from ..train_adv.pipeline import RUNS as ADV_RUNS
from ..train_ce.pipeline import RUNS as CE_RUNS
from ..train_jacob.pipeline import RUNS as JACOB_RUNS
from ..train_nsr.pipeline import RUNS as NSR_RUNS

TRAINED_RUNS = (*CE_RUNS, *NSR_RUNS, *JACOB_RUNS, *ADV_RUNS)
ATTACKS = ("fgsm", "bim", "pgd", "pgd_nsr", "cw_linf", "sap", "white_noise", "real_noise_em", "real_noise_ma",
           "real_noise_bw", "spsa", "boundary", "hopskipjump")
VALIDATION_ATTACKS = ("pgd",)


def model_runs() -> tuple[str, ...]:
    """Every run with a ``<run>.model``: the training pipelines' runs, then the sweeps' selections."""
    return (*TRAINED_RUNS, *read_sweeps())


def create_pipeline(**kwargs) -> Pipeline:
    runs = model_runs()
    test = [attack_pipeline(run, attack, tags=("attack",)) for run in runs for attack in ATTACKS]
    validation = [
        attack_pipeline(run, attack, split="mitdb_validation", suffix="_validation", tags=("attack", "validation"))
        for run in runs for attack in VALIDATION_ATTACKS
    ]
    return Pipeline(test + validation)
