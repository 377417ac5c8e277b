"""``attack``: every trained model x every attack of the grid, on the test split; PGD also on validation
(what model selection reads). Rerun one instance with ``--namespaces=<run>.<attack>``."""

from kedro.pipeline import Pipeline

from ..attack_evaluation import attack_pipeline
from ..train_ce.pipeline import RUNS as CE_RUNS

MODEL_RUNS = CE_RUNS
ATTACKS = ("fgsm", "bim", "pgd", "pgd_nsr", "cw_linf", "sap", "white_noise", "real_noise_em", "real_noise_ma",
           "real_noise_bw", "spsa", "boundary", "hopskipjump")
VALIDATION_ATTACKS = ("pgd",)


def create_pipeline(**kwargs) -> Pipeline:
    test = [attack_pipeline(run, attack, tags=("attack",)) for run in MODEL_RUNS for attack in ATTACKS]
    validation = [
        attack_pipeline(run, attack, split="mitdb_validation", suffix="_validation", tags=("attack", "validation"))
        for run in MODEL_RUNS for attack in VALIDATION_ATTACKS
    ]
    return Pipeline(test + validation)
