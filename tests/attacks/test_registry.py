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


# ---------------------------------------------------------------- what each algorithm declares about itself

#: The effort keys the evaluation doubled before the algorithms declared theirs (one list for every attack).
FORMER_EFFORT_KEYS = ("steps", "restarts", "max_queries", "iterations", "pgd_steps")


def test_the_views_are_computed_from_the_declarations_as_before():
    from ecg_pipeline.attacks.registry import DECISION_BASED, EFFORT_KEYS, GRADIENT_FREE, effort_keys

    assert DECISION_BASED == {"boundary", "hopskipjump"} == set(SEARCHES)
    assert GRADIENT_FREE == {"square", "spsa", "boundary", "hopskipjump"}
    assert {"fgsm", "bim", "pgd", "pgd_nsr", "cw_linf", "sap", "white_noise", "real_noise", "spsa", "boundary",
            "hopskipjump", "apgd", "apgd_ce", "apgd_t", "autoattack", "square", "fab", "fab_t"} == set(ATTACKS)
    for name in ATTACKS:  # the doubled-effort check doubles what it doubled when the list was global
        accepted = inspect.signature(ATTACKS[name]).parameters
        assert set(effort_keys(name)) == {k for k in FORMER_EFFORT_KEYS if k in accepted}, name
    assert EFFORT_KEYS["autoattack"] == ("steps", "restarts", "max_queries")
    with pytest.raises(EcgDataError, match="unknown attack 'nope'"):
        effort_keys("nope")


def test_no_discovered_module_imports_the_registry():
    """The registry imports every module of the package but NOT_DISCOVERED; one that imported the registry back
    would meet it half-built (an import circle hidden from tests/test_layering.py by the dynamic import)."""
    import ast
    from pathlib import Path

    from ecg_pipeline.attacks import registry

    package = Path(registry.__file__).parent
    for path in sorted(package.glob("*.py")):
        if path.stem in registry.NOT_DISCOVERED or path.stem == "__init__":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [a.name for a in node.names]
                assert not any(n.endswith("registry") for n in names), f"{path.name}:{node.lineno} imports the registry"


def test_a_new_algorithm_module_registers_itself(tmp_path, monkeypatch):
    """Adding an algorithm is its module: discovered, registered with its properties, in every view."""
    import sys

    from ecg_pipeline.attacks.base import DECLARED
    from ecg_pipeline.attacks.registry import import_algorithm_modules, views

    package = tmp_path / "toy_attacks"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "toy.py").write_text(
        "from ecg_pipeline.attacks.base import register_attack\n\n\n"
        "@register_attack('toy_walk', gradient_free=True, effort_keys=('walks',))\n"
        "def toy_walk(model, x, y, eps, *, mask=None, bounds=None, seed=0, walks: int = 3):\n"
        "    return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert import_algorithm_modules("toy_attacks", [str(package)], frozenset()) == ["toy"]
        attacks, searches, decision_based, gradient_free, effort = views(DECLARED)
        assert attacks["toy_walk"].__name__ == "toy_walk" and "toy_walk" in gradient_free
        assert effort["toy_walk"] == ("walks",) and "toy_walk" not in {*searches, *decision_based}
    finally:
        DECLARED.pop("toy_walk", None)
        sys.modules.pop("toy_attacks.toy", None)
        sys.modules.pop("toy_attacks", None)


def test_register_attack_refuses_a_bad_declaration_at_import():
    from ecg_pipeline.attacks.base import AttackError, DECLARED, register_attack

    def other_pgd(model, x, y, eps, *, steps: int = 1):
        return x

    with pytest.raises(AttackError, match="'pgd' is already registered to ecg_pipeline.attacks.pgd.pgd"):
        register_attack("pgd")(other_pgd)
    with pytest.raises(AttackError, match=r"effort_keys must be a tuple of its parameters.*\['restarts'\]"):
        register_attack("toy_other", effort_keys=("steps", "restarts"))(other_pgd)
    with pytest.raises(AttackError, match="effort_keys must be a tuple"):
        register_attack("toy_other", effort_keys="steps")(other_pgd)
    with pytest.raises(AttackError, match="cannot be gradient_free=False"):
        register_attack("toy_other", search=other_pgd, gradient_free=False)(other_pgd)
    assert "toy_other" not in DECLARED and ATTACKS["pgd"].__module__ == "ecg_pipeline.attacks.pgd"
