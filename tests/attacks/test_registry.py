"""Attack hyper-parameters checked against the attack itself (its signature and its declared checks), before any
node runs: every key an attack takes, every value its checks refuse, named by the parameter path."""

from __future__ import annotations

import inspect

import pytest

from ecg_pipeline.attacks.registry import ATTACKS, SEARCHES, attack_parameters, check_attack_params
from ecg_pipeline.errors import EcgConfigError, EcgDataError


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_every_declared_check_names_a_parameter_the_attack_takes(name):
    function = SEARCHES.get(name) or ATTACKS[name]
    accepted = attack_parameters(name)
    assert set(getattr(function, "param_checks", {})) <= set(accepted)
    # the defaults pass their own checks
    defaults = {k: p.default for k, p in accepted.items() if p.default is not inspect.Parameter.empty}
    check_attack_params(name, defaults, f"attacks.{name}.params")


@pytest.mark.parametrize("name, params, message", [
    ("pgd", {"step_size": -0.01}, r"^parameters 'attacks.x.params.step_size': expected a number > 0 or null, got -0.01$"),
    ("pgd", {"stepsize": 0.01},
     r"^parameters 'attacks.x.params.stepsize': attack 'pgd' has no parameter 'stepsize'; did you mean 'step_size'\?"),
    ("pgd", {"early_stop": True},
     r"^parameters 'attacks.x.params.early_stop': attack 'pgd' has no parameter 'early_stop' any more: pgd always "
     r"returns each sample's first misclassified iterate"),
    ("pgd", {"steps": 0}, r"'attacks.x.params.steps': expected an integer >= 1, got 0"),
    ("pgd", {"steps": 10.5}, r"'attacks.x.params.steps': expected an integer >= 1, got 10.5"),
    ("pgd", {"random_start": "yes"}, r"'attacks.x.params.random_start': expected true or false, got 'yes'"),
    ("pgd", {"step_size": 0.01, "step_ratio": 0.1}, r"'attacks.x.params': give step_size or step_ratio, not both"),
    ("pgd", {"restarts": 3, "random_start": False}, r"'attacks.x.params': restarts > 1 needs random_start"),
    ("pgd", {"loss": "cw2"}, r"'attacks.x.params.loss': expected one of \['ce', 'cw'"),
    ("pgd", {"eps": 0.1}, r"'attacks.x.params.eps': set by the evaluation from the grid"),
    ("pgd", {"bounds": [0, 1]}, r"'attacks.x.params.bounds': set by the evaluation from attacks.<name>.bounds"),
    ("square", {"p_init": 1.5}, r"'attacks.x.params.p_init': expected a number > 0 and <= 1, got 1.5"),
    ("apgd", {"rho": 0}, r"'attacks.x.params.rho': expected a number > 0 and <= 1"),
    ("autoattack", {"attacks": ["apgd_ce", "fab"]}, r"'attacks.x.params.attacks': expected a non-empty list of some of"),
    ("spsa", {"lr": -1}, r"'attacks.x.params.lr': expected a number > 0"),
    ("boundary", {"max_queries": 0}, r"'attacks.x.params.max_queries': expected an integer >= 1"),
    ("hopskipjump", {"max_querys": 10}, r"hopskipjump' has no parameter 'max_querys'; did you mean 'max_queries'\?"),
    ("real_noise", {"snr_db": 6}, r"'attacks.x.params.snr_db': set by the evaluation from the grid"),
    ("white_noise", {"sigma": 1}, r"'attacks.x.params.sigma': attack 'white_noise' has no parameter 'sigma' \(it takes \[\]\)"),
])
def test_a_bad_hyper_parameter_names_its_path(name, params, message):
    grid_param = "snr_db" if name == "real_noise" else "eps"
    with pytest.raises(EcgConfigError, match=message):
        check_attack_params(name, params, "attacks.x.params", grid_param=grid_param)


def test_config_errors_are_still_caught_as_the_one_base_class():
    from ecg_pipeline.attacks.base import AttackError
    from ecg_pipeline.errors import EcgAttackError, EcgError, EcgModelError

    assert EcgError is EcgDataError
    for kind in (EcgConfigError, EcgModelError, EcgAttackError, AttackError):
        assert issubclass(kind, EcgDataError)
    assert issubclass(AttackError, EcgAttackError)
