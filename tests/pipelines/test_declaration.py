"""The one declaration (fast tier, no data): validation before any node runs, what each run and attack
turns into, and what adding one block changes."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import pytest

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.pipeline_registry import build_pipelines
from ecg_pipeline.pipelines.declaration import load_declaration, read_declaration, with_overrides

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.fixture
def parameters(base_parameters):
    return copy.deepcopy(dict(base_parameters))


def test_the_project_declaration(parameters):
    declaration = read_declaration(parameters)
    assert list(declaration.families) == ["ce", "nsr", "jacob", "adv", "trades", "certified", "atk_gan",
                                          "atk_gan_source", "cinc", "ens", "ens_vote"]
    assert list(declaration.ensembles) == ["cor_mlp", "dec_mlp", "fcor_mlp", "fdec_mlp", "cor_cnn", "dec_cnn", "fcor_cnn",
                                           "fdec_cnn", "cor_cinc", "dec_cinc", "fcor_cinc", "fdec_cinc", "cor_mlp_vote",
                                           "dec_mlp_vote", "fcor_mlp_vote", "fdec_mlp_vote", "fdec_cnn_vote"]
    assert declaration.model_runs["fdec_cnn"].family == "ens"
    assert declaration.model_runs["fdec_cnn_vote"].family == "ens_vote"
    assert [r.name for r in declaration.runs_of("nsr")] == ["nsr_mlp", "nsr_cnn", "nsr_mlp_code", "nsr_cnn_code",
                                                          "nsr_mlp_margin", "nsr_cpsc"]
    nsr = declaration.runs["nsr_mlp"]
    assert (nsr.label, nsr.data.test, nsr.model, nsr.section) == ("0.4NSR", "mitdb_test", "mlp", "runs.nsr_mlp")
    # every attack declared for mitdb but those that craft on an ensemble's surrogates
    assert declaration.attacks_for(nsr) == tuple(a for a in _attacks_of(parameters, "mitdb") if a != "autoattack_vote")
    assert declaration.attacks["autoattack_vote"].needs_ensemble and not declaration.attacks["autoattack"].needs_ensemble
    assert declaration.attacks["real_noise_em"].needs_noise and not declaration.attacks["pgd"].needs_noise
    assert declaration.attacks["bim"].attack == "bim"  # defaults to the block's name
    selected = declaration.model_runs["nsr_mlp_sweep"]
    assert selected.sweep.members["beta_0p4"] == 0.4 and selected.label == "nsr: best beta on validation"
    assert list(declaration.model_runs)[: len(declaration.runs)] == list(declaration.runs)


def _attacks_of(parameters: dict, data: str) -> tuple[str, ...]:
    """The attack blocks that name ``data`` (``data: mitdb`` or a list)."""
    return tuple(name for name, spec in parameters["attacks"].items()
                 if data in ([spec["data"]] if isinstance(spec["data"], str) else spec["data"]))


def _diff(before: dict, after: dict) -> dict[str, set]:
    """Per pipeline: the node names added."""
    def names(pipelines, name):
        return {n.name for n in pipelines[name].nodes} if name in pipelines else set()

    added = {name: names(after, name) - names(before, name) for name in after}
    return {name: nodes for name, nodes in added.items() if nodes}


def test_adding_a_run_is_one_block(parameters):
    before = build_pipelines(read_declaration(parameters))
    parameters["runs"]["nsr_mlp_b02"] = {**parameters["runs"]["nsr_mlp"], "label": "0.2NSR",
                                         "objective": {"name": "nsr", "beta": 0.2, "eps_max": 1.0}}
    after = build_pipelines(read_declaration(parameters))
    added = _diff(before, after)
    assert added["train_nsr"] == {"nsr_mlp_b02.train"}
    n_attacks = len(_attacks_of(parameters, "mitdb")) - 1   # autoattack_vote judges ensembles only
    # every mitdb attack on the test split + the selection attack on validation + its certification (an MLP on mitdb) + the
    # record-level noise stress (MIT-BIH) + the run's `judged` node (closes its viz box)
    assert len(added["attack"]) == n_attacks + 4 and "nsr_mlp_b02.judged" in added["attack"]
    assert {"nsr_mlp_b02.certify.certify", "nsr_mlp_b02.record_noise.record_noise"} <= added["attack"]
    assert "nsr_mlp_b02.pgd.evaluate" in added["attack"] and "nsr_mlp_b02.worst_case_selection_validation.evaluate" in added["attack"]
    assert set(added) == {"train_nsr", "attack"}  # the report reads collections: no new node, no new input
    report = after["report"]
    runs = {r.run for n in report.nodes for r in n.func.keywords["model_runs"]}
    assert "nsr_mlp_b02" in runs


def test_adding_an_attack_is_one_block(parameters):
    before = build_pipelines(read_declaration(parameters))
    parameters["attacks"]["pgd_200"] = {**parameters["attacks"]["pgd"], "attack": "pgd",
                                        "params": {"steps": 200, "step_size": 0.005}}
    after = build_pipelines(read_declaration(parameters))
    added = _diff(before, after)
    declaration = read_declaration(parameters)
    # every model trained on the attack's data whose family takes all of its data's attacks (the ensembles' lists its own)
    n_models = sum(r.data.name == "mitdb" and declaration.families[r.family].attacks is None
                   for r in declaration.model_runs.values())
    assert set(added) == {"attack"} and len(added["attack"]) == n_models
    assert "ce_mlp.pgd_200.evaluate" in added["attack"]


def test_an_attack_configuration_for_every_data_is_one_block(parameters):
    """Issue 25, item 5: a known algorithm on every data is ONE block in parameters_attack.yml (no other section
    changes): it judges every run of every data it names as ``<run>.<attack>``, each on its data's defaults."""
    datas = ["mitdb", "atk_gan", "cpsc2018", "cinc2017"]
    before = build_pipelines(read_declaration(parameters))
    changed = copy.deepcopy(parameters)
    changed["attacks"]["pgd_fast"] = {"attack": "pgd", "data": datas, "params": {"steps": 10, "step_ratio": 0.1}}
    assert [k for k in changed if changed[k] != parameters[k]] == ["attacks"]
    declaration = read_declaration(changed)
    added = _diff(before, build_pipelines(declaration))
    expected = {f"{run.name}.pgd_fast.evaluate" for run in declaration.model_runs.values()
                if declaration.judging_data(run).name in datas and declaration.families[run.family].attacks is None}
    assert set(added) == {"attack"} and added["attack"] == expected
    assert {"ce_mlp.pgd_fast.evaluate", "atk_gan.pgd_fast.evaluate", "ce_atk_gan_cnn.pgd_fast.evaluate",
            "ce_cpsc.pgd_fast.evaluate", "ce_cinc.pgd_fast.evaluate"} <= expected
    for data in datas:
        spec, defaults = declaration.attack_spec("pgd_fast", data), parameters["data"][data]["attack_defaults"]
        assert spec.grid == tuple(defaults["grid"]) and spec.eps_max == defaults["eps_max"]
        assert spec.per_class == defaults["per_class"] and spec.params == {"steps": 10, "step_ratio": 0.1}
    assert declaration.attack_spec("pgd_fast", "cpsc2018").bounds == (-1.0, 1.0)
    assert declaration.attack_spec("pgd_fast", "cinc2017").bounds is None
    assert declaration.attack_spec("pgd_fast", "mitdb").num_threads == 1


def test_each_evaluation_node_builds_the_declared_spec(parameters):
    """The evaluation node of ``<run>.<attack>`` reads the block and its data's defaults as two Kedro parameters
    and merges them as the declaration did: for every instance of the project, the spec it runs is the declared one."""
    from ecg_pipeline.evaluation.spec import AttackSpec
    from ecg_pipeline.pipelines.declaration import with_data_defaults

    declaration = read_declaration(parameters)
    pipelines = build_pipelines(declaration)
    runs, checked = declaration.model_runs, 0

    def value(name: str):
        node = parameters
        for key in name[len("params:"):].split("."):
            node = node[key]
        return node

    for node in pipelines["attack"].nodes:
        if not node.name.endswith(".evaluate") or node.namespace.endswith("_validation"):
            continue
        run, attack = node.namespace.split(".")
        block, *defaults = [value(i) for i in node.inputs if i.startswith("params:")]
        spec = AttackSpec.from_params(with_data_defaults(block, defaults[0] if defaults else None), attack)
        assert spec == declaration.attack_spec(attack, declaration.judging_data(runs[run]).name), node.name
        checked += 1
    assert checked == sum(len(declaration.attacks_for(run)) for run in runs.values())


def test_a_data_default_reaches_every_attack_on_that_data_only(parameters):
    """``--params=data.mitdb.attack_defaults.per_class=10``: every MIT-BIH attack that leaves per_class to its data
    (not spsa, boundary, hopskipjump: their blocks set their own), no other data's."""
    parameters["data"]["mitdb"]["attack_defaults"]["per_class"] = 10
    declaration = read_declaration(parameters)
    own = {name for name, block in parameters["attacks"].items() if "per_class" in block}
    assert own == {"spsa", "boundary", "hopskipjump"}
    for attack in _attacks_of(parameters, "mitdb"):
        assert declaration.attack_spec(attack, "mitdb").per_class == (parameters["attacks"][attack]["per_class"]
                                                                       if attack in own else 10)
    assert declaration.attack_spec("autoattack", "atk_gan").per_class == 250
    assert declaration.attack_spec("autoattack", "cpsc2018").per_class is None


def test_adding_a_family_is_one_block_and_a_run(parameters):
    parameters["families"]["nsr_margin"] = {"title": "NSR on the margin", "attacks": ["pgd", "cw_linf"]}
    parameters["runs"]["nsrm_mlp"] = {**parameters["runs"]["nsr_mlp"], "family": "nsr_margin", "label": "mNSR"}
    pipelines = build_pipelines(read_declaration(parameters))
    assert {n.name for n in pipelines["train_nsr_margin"].nodes} == {"nsrm_mlp.train"}
    judged = {n.name for n in pipelines["attack"].nodes if n.name.startswith("nsrm_mlp.")}
    assert judged == {"nsrm_mlp.pgd.evaluate", "nsrm_mlp.cw_linf.evaluate",
                      "nsrm_mlp.worst_case_selection_validation.evaluate",   # model selection: every run of its data
                      "nsrm_mlp.certify.certify",  # certify: every MIT-BIH MLP, whatever its family's attacks
                      "nsrm_mlp.record_noise.record_noise",  # record-level noise stress: every MIT-BIH run
                      "nsrm_mlp.judged"}  # the node that closes the model's box in kedro-viz (attack/pipeline.py)


@pytest.mark.parametrize("change, message", [
    (lambda p: p["runs"]["nsr_mlp"].update(epoch=3), r"'runs.nsr_mlp': unknown key\(s\) \['epoch'\]"),
    (lambda p: p["runs"]["nsr_mlp"].update(epochs=0), r"'runs.nsr_mlp.epochs': expected a positive integer, got 0"),
    (lambda p: p["runs"]["nsr_mlp"].update(family="nrs"), r"'runs.nsr_mlp.family': expected one of \['adv', 'atk_gan', 'atk_gan_source', 'ce'"),
    (lambda p: p["runs"]["nsr_mlp"]["objective"].update(beta=-1),
     r"^parameters 'runs.nsr_mlp.objective.beta': beta must be >= 0, got -1$"),
    (lambda p: p["runs"]["nsr_cnn"]["objective"].update(beta="0.4x"),
     r"^parameters 'runs.nsr_cnn.objective.beta': beta must be >= 0, got '0.4x'$"),
    (lambda p: p["runs"]["nsr_mlp"]["objective"].update(target="margn"),
     r"'runs.nsr_mlp.objective.target': NSR target must be 'logit' or 'margin', got 'margn'"),
    (lambda p: p["runs"]["nsr_mlp"]["objective"].update(bta=0.4), r"'runs.nsr_mlp.objective'.*'bta'"),
    (lambda p: p["runs"]["nsr_mlp"]["model"].update(name="mpl"),
     r"^parameters 'runs.nsr_mlp.model.name': unknown model 'mpl'; expected one of \['atk_gan_discriminator', "
     r"'atk_gan_discriminator_code', 'atk_gan_generator', 'ensemble', 'fourier', 'han_cnn', 'kachuee_cnn', 'masked_resnet', 'mlp'\]$"),
    (lambda p: p["runs"]["nsr_mlp"].update(model={}), r"'runs.nsr_mlp.model': expected a mapping with a 'name'"),
    (lambda p: p["runs"]["nsr_mlp"]["model"].update(hiden=64), r"'runs.nsr_mlp.model': unknown key\(s\) \['hiden'\] for model 'mlp'"),
    (lambda p: p["runs"]["nsr_mlp"].update(optimizer="adamx"), r"'runs.nsr_mlp.optimizer': unknown optimizer 'adamx'"),
    (lambda p: p["runs"]["nsr_mlp"]["objective"].update(name="nsrr"), r"'runs.nsr_mlp.objective.name': unknown training objective 'nsrr'"),
    (lambda p: p["attacks"]["pgd"].update(eps_max=0.15), r"'attacks.pgd.eps_max': 0.15 must be a positive grid point"),
    (lambda p: p["attacks"]["pgd"].update(grid=[0.01, 0.1]), r"'attacks.pgd.grid': ACC_robust .* needs eps 0"),
    (lambda p: p["attacks"]["pgd"].update(attack="pgd2"), r"'attacks.pgd.attack': unknown attack 'pgd2'"),
    (lambda p: p["data"]["mitdb"]["attack_defaults"].update(per_clas=3),
     r"^parameters 'data.mitdb.attack_defaults': unknown key\(s\) \['per_clas'\]; did you mean 'per_class'\?"),
    (lambda p: p["data"]["cpsc2018"]["attack_defaults"].update(params={"steps": 3}),
     r"'data.cpsc2018.attack_defaults': unknown key\(s\) \['params'\].*the algorithm and its params are the attack block's"),
    (lambda p: p["data"]["cpsc2018"]["attack_defaults"].update(eps_max=0.02),
     r"'attacks.apgd_ce.eps_max': 0.02 must be a positive grid point.*\(attack 'apgd_ce' on data 'cpsc2018'"),
    (lambda p: p["attacks"]["autoattack"].update(data=["mitdb", "cpsc"]), r"'attacks.autoattack.data': expected one of"),
    (lambda p: p["attacks"]["fgsm"].update(data="cinc"), r"'attacks.fgsm.data': expected one of \['atk_gan', 'atk_gan_union', 'cinc2017', 'cpsc2018', 'mitdb', 'mitdb_ip'\]"),
    (lambda p: p["sweeps"]["nsr_mlp_sweep"].update(run="nsr_mpl"), r"sweep 'nsr_mlp_sweep': base run 'nsr_mpl'"),
    (lambda p: p["sweeps"]["nsr_mlp_sweep"].update(values=[0.2, -1]), r"every value of objective.beta must be a number >= 0"),
    (lambda p: p["sweeps"]["nsr_mlp_sweep"].update(vary="objective.lam"), r"nsr_mlp_sweep.lam_0p1: cannot set 'objective.lam'"),
    (lambda p: p["runs"].update({"a.b": p["runs"]["ce_mlp"]}), r"run name 'a.b': must be a non-empty name without '.'"),
    (lambda p: p["families"]["nsr"].update(attacks=["pgdd"]), r"'families.nsr.attacks': \['pgdd'\] are not declared"),
    (lambda p: p["attack_generation"]["attacks"].update(square={"eps": 0.01}),
     r"'attack_generation.attacks.square': attack 'square' is not one of ECG-ATK-GAN's six attacks"),
    (lambda p: p["attack_generation"]["attacks"]["pgd"].update(eps=0), r"'attack_generation.attacks.pgd.eps': expected a number > 0"),
    (lambda p: p["attack_generation"]["attacks"]["boundary"].update(per_class=0),
     r"'attack_generation.attacks.boundary.per_class': expected a count >= 1"),
    (lambda p: p["attack_generation"]["attacks"]["bim"].update(step=0.001), r"'attack_generation.attacks.bim': unknown key\(s\) \['step'\]"),
    (lambda p: p["attack_generation"].update(source="atk_gan_src"), r"'attack_generation.source': expected a run declared"),
    (lambda p: p["runs"]["atk_gan_source"]["model"].update(n_classes=5),
     r"'runs.atk_gan_source.model': the source classifier of attack_generation has 5 outputs \(n_classes\), its data "
     r"'atk_gan' has 4 classes \['N', 'S', 'V', 'F'\]"),
    (lambda p: p["atk_gan"]["segmentation"].update(label_set="aami5"), r"has 4 outputs .* 5 classes \['N', 'S', 'V', 'F', 'Q'\]"),
    (lambda p: p["data"]["atk_gan"].update(train="atk_gan_train"),
     r"'data.atk_gan.train': a variant of 'mitdb' writes its train split as 'atk_gan.mitdb_train_balanced'"),
    (lambda p: p["data"]["atk_gan"].update(variant_of="mitbih"), r"'data.atk_gan.variant_of': expected one of \['atk_gan_union', 'cinc2017', 'cpsc2018', 'mitdb'\]"),
])
def test_a_bad_declaration_is_refused_naming_the_key(parameters, change, message):
    change(parameters)
    with pytest.raises(EcgDataError, match=message):
        read_declaration(parameters)


@pytest.mark.parametrize("change, message", [
    # issue 26: attack hyper-parameters were checked only when the attack ran (after data and training)
    (lambda p: p["attacks"]["pgd"]["params"].update(step_size=-0.01),
     r"^parameters 'attacks.pgd.params.step_size': expected a number > 0 or null, got -0.01$"),
    (lambda p: p["attacks"]["pgd"]["params"].update(stepsize=0.01),
     r"^parameters 'attacks.pgd.params.stepsize': attack 'pgd' has no parameter 'stepsize'; did you mean 'step_size'\?"),
    (lambda p: p["attacks"]["apgd_t"]["params"].update(loss="dlrr"),
     r"^parameters 'attacks.apgd_t.params.loss': expected one of \['ce', 'dlr', .*got 'dlrr'$"),
    (lambda p: p["attacks"]["autoattack"]["params"].update(max_queries=0),
     r"^parameters 'attacks.autoattack.params.max_queries': expected an integer >= 1, got 0$"),
    (lambda p: p["attack_generation"]["attacks"]["pgd"].update(params={"step_size": 0}),
     r"^parameters 'attack_generation.attacks.pgd.params.step_size': expected a number > 0"),
    (lambda p: p["attacks"]["pgd"].update(attack="pgdd"), r"unknown attack 'pgdd'; did you mean 'pgd'\?"),
    (lambda p: p["main"].update(runs=["ce_mlpp"]), r"'main.runs': 'ce_mlpp' is not a run declared under 'runs'; did you mean 'ce_mlp'\?"),
    (lambda p: p["families"]["nsr"].update(attacks=["pgdd"]), r"not declared under 'attacks'; did you mean 'pgd'\?"),
])
def test_attack_parameters_and_names_are_checked_with_the_declaration(parameters, change, message):
    from ecg_pipeline.errors import EcgConfigError

    change(parameters)
    with pytest.raises(EcgConfigError, match=message):
        read_declaration(parameters)


@pytest.mark.parametrize("override, message", [
    # issue 26: silently ignored (rc 0)
    ({"segmentaton": {"scheme": "centered"}},
     r"^--params segmentaton.scheme: unknown parameter 'segmentaton'; did you mean 'segmentation.scheme'\?$"),
    ({"segmentation": {"schme": "centered"}}, r"did you mean 'segmentation.scheme'\?$"),
    # issue 26: "'runs.ce_mlpp.family': expected one of [...], got None"
    ({"runs": {"ce_mlpp": {"epochs": 3}}},
     r"^--params runs.ce_mlpp.epochs: unknown run 'ce_mlpp' under 'runs'; did you mean 'ce_mlp'\?$"),
    ({"attacks": {"pgdd": {"per_class": 3}}}, r"unknown attack 'pgdd' under 'attacks'; did you mean 'pgd'\?$"),
    # issue 26: a bare TypeError from pgd() when the attack ran
    ({"attacks": {"pgd": {"params": {"stepsize": 0.01}}}},
     r"^--params attacks.pgd.params.stepsize: unknown parameter 'attacks.pgd.params.stepsize'; "
     r"did you mean 'attacks.pgd.params.step_size'\?$"),
    ({"runs": {"ce_mlp": {"epoch": 3}}}, r"did you mean 'runs.ce_mlp.epochs'\?$"),
    ({"runs": {"nsr_mlp": {"objective": {"bta": 0.3}}}}, r"did you mean 'runs.nsr_mlp.objective.beta'\?$"),
    ({"attacks": {"pgd": {"per_clas": 3}}}, r"did you mean 'attacks.pgd.per_class'\?$"),
    ({"report": {"figure": {"dpii": 30}}}, r"did you mean 'report.figure.dpi'\?$"),
    ({"data": {"mitdb": {"attack_defaults": {"per_clas": 10}}}},
     r"^--params data.mitdb.attack_defaults.per_clas: unknown parameter 'data.mitdb.attack_defaults.per_clas'; "
     r"did you mean 'data.mitdb.attack_defaults.per_class'\?$"),
    ({"data": {"cinc2017": {"attack_defaults": {"params": {"steps": 2}}}}}, r"unknown parameter 'data.cinc2017.attack_defaults.params'"),
    ({"data": {"mitdb": {"atack_defaults": {"per_class": 10}}}}, r"did you mean 'data.mitdb.attack_defaults.per_class'\?$"),
    ({"data": {"mitbd": {"attack_defaults": {"per_class": 10}}}}, r"unknown data 'mitbd' under 'data'; did you mean 'mitdb'\?$"),
    ({"runs": {"ce_mlp": {"epochs": {"x": 1}}}}, r"'runs.ce_mlp.epochs' is a value \(\d+\), not a section"),
])
def test_a_runtime_parameter_that_addresses_nothing_is_refused(override, message):
    from ecg_pipeline.errors import EcgConfigError
    from ecg_pipeline.pipelines.declaration import check_override_paths, runtime_variables

    with pytest.raises(EcgConfigError, match=message):
        check_override_paths(override, _ci_parameters(), runtime_variables(CONF))


@pytest.mark.parametrize("override", [
    {"data_root": "/elsewhere"},                                        # read by the catalog (runtime_params)
    {"runs": {"ce_mlp": {"epochs": 3, "max_shift": 2}}},                # a training key conf/ leaves to its default
    {"runs": {"ce_mlp": {"model": {"n_classes": 5}}}},
    {"attacks": {"pgd": {"params": {"cycle_check": 0}, "seed": 3}}},    # attack keys left to their defaults
    {"attacks": {"pgd": {"params": {"steps": 5}}}},                     # one attack, every data it judges
    {"data": {"mitdb": {"attack_defaults": {"per_class": 10}}}},        # every attack on one data
    {"data": {"cpsc2018": {"attack_defaults": {"seed": 3, "keep_per_class": 1}}}},  # defaults conf/ leaves out
    {"attack_generation": {"attacks": {"pgd": {"params": {"steps": 5}}}}},
    {"report": {"pin": {"ce_mlp": {"pgd_nsr": "2026-01-01T00.00.00.000Z"}}}},  # a free-form block (pin: {})
    {"ingestion": {"mitdb": {"expected_fs": 360}}},                     # a section a node passes to a function
    {"padding_masking": {"cpsc2018": {"split": {"test_per_class": 5}}}},
    {"atk_gan": {"segmentation": {"label_set": "aami5"}}},              # a data variant's own section
])
def test_a_runtime_parameter_of_the_configuration_passes(override):
    from ecg_pipeline.pipelines.declaration import check_override_paths, runtime_variables

    check_override_paths(override, _ci_parameters(), runtime_variables(CONF))


def test_the_session_checks_its_runtime_parameters_before_pipelines_exist(monkeypatch):
    """The hook hands the session's loader over; the declaration refuses a bad --params before any pipeline is built."""
    from kedro.config import OmegaConfigLoader

    from ecg_pipeline.config_loader import CONFIG_LOADER_ARGS
    from ecg_pipeline.errors import EcgConfigError
    from ecg_pipeline.pipelines.declaration import forget_session_config, use_session_config

    loader = OmegaConfigLoader(conf_source=str(CONF), env="ci", runtime_params={"segmentaton": {"scheme": "centered"}},
                               **CONFIG_LOADER_ARGS)
    use_session_config(loader, ("test", "ci", "segmentaton"))
    try:
        with pytest.raises(EcgConfigError, match=r"did you mean 'segmentation.scheme'"):
            load_declaration()
    finally:
        forget_session_config()


def test_a_session_reads_its_configuration_once():
    """The registry and the missing-inputs message both build pipelines during a run: from one declaration, read
    once per session; a session with other parameters reads its own (and says the earlier pipelines are stale)."""
    from kedro.config import OmegaConfigLoader

    from ecg_pipeline.config_loader import CONFIG_LOADER_ARGS
    from ecg_pipeline.pipelines.declaration import forget_session_config, use_session_config

    loader = OmegaConfigLoader(conf_source=str(CONF), env="ci", **CONFIG_LOADER_ARGS)
    use_session_config(loader, ("test", "ci", "once"))
    try:
        first = load_declaration()
        assert load_declaration() is first
        other = OmegaConfigLoader(conf_source=str(CONF), env="ci", **CONFIG_LOADER_ARGS,
                                  runtime_params={"sweeps": {"nsr_mlp_sweep": {"values": [0.2]}}})
        assert use_session_config(other, ("test", "ci", "other"))  # the pipelines built from `first` are stale
        assert load_declaration().sweeps["nsr_mlp_sweep"].values == (0.2,)
    finally:
        forget_session_config()
    assert load_declaration(CONF, env="ci") is not load_declaration(CONF, env="ci")  # outside a session: read anew


def test_a_later_session_in_the_same_process_gets_pipelines_of_its_own_configuration(empty_project):
    """Kedro caches the pipelines it registered; a second session with other --params (a notebook, a test process)
    must not reuse the first one's: the DeclarationHook has them rebuilt (hooks/kedro_adapter.py, public calls)."""
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from ecg_pipeline import run_context
    from ecg_pipeline.pipelines.declaration import forget_session_config

    def sweep_members(runtime_params: dict) -> set[str]:
        with KedroSession.create(project_path=empty_project.path, env="ci", runtime_params=runtime_params) as session:
            session.load_context()  # the hooks' after_context_created: the session's loader handed over
            return {n.namespace for n in pipelines["sweep"].nodes if n.name.endswith(".train")
                    and n.namespace.startswith("nsr_mlp_sweep.")}

    bootstrap_project(empty_project.path)
    try:
        assert sweep_members({"data_root": "/data"}) == {"nsr_mlp_sweep.beta_0p1", "nsr_mlp_sweep.beta_0p4"}
        other = {"data_root": "/data", "sweeps": {"nsr_mlp_sweep": {"values": [0.2, 0.3]}}}
        assert sweep_members(other) == {"nsr_mlp_sweep.beta_0p2", "nsr_mlp_sweep.beta_0p3"}
    finally:  # no run ended these sessions: forget them here, as their after_pipeline_run hook would have
        forget_session_config()
        run_context.set_current(None, None, None)


@functools.lru_cache(maxsize=1)
def _ci_parameters() -> dict:
    from kedro.config import OmegaConfigLoader

    from ecg_pipeline.config_loader import CONFIG_LOADER_ARGS

    return OmegaConfigLoader(conf_source=str(CONF), env="ci", **CONFIG_LOADER_ARGS)["parameters"]


def test_the_kedro_env_chooses_the_sweep_members(monkeypatch):
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    assert load_declaration(CONF).sweeps["nsr_mlp_sweep"].values == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    assert load_declaration(CONF, env="ci").sweeps["nsr_mlp_sweep"].values == (0.1, 0.4)


def test_a_sweep_member_that_sets_a_missing_key_names_the_run():
    params = {"objective": {"name": "nsr", "beta": 0.4}, "epochs": 2}
    assert with_overrides(params, {"objective.beta": 0.7}, "s.beta_0p7")["objective"]["beta"] == 0.7
    assert params["objective"]["beta"] == 0.4  # the base run's parameters are not touched
    with pytest.raises(EcgDataError, match=r"s.lam_1: cannot set 'objective.lam'.*no key 'lam'"):
        with_overrides(params, {"objective.lam": 1}, "s.lam_1")
    with pytest.raises(EcgDataError, match=r"cannot set 'model.depth.x'.*no section 'model'"):
        with_overrides(params, {"model.depth.x": 1}, "s.x")


def test_a_bad_run_fails_registration_before_any_pipeline_exists(parameters):
    """The declaration is read when pipelines are registered, so a bad last run stops every run (none trains)."""
    from ecg_pipeline.pipeline_registry import build_pipelines

    last = list(parameters["runs"])[-1]
    parameters["runs"][last]["model"] = {**parameters["runs"][last]["model"], "name": "transformer"}
    with pytest.raises(EcgDataError, match=rf"'runs.{last}.model.name': unknown model 'transformer'"):
        build_pipelines(read_declaration(parameters))


def test_a_misspelt_key_in_an_envs_files_is_refused(tmp_path):
    """conf/local (or any env) overriding a key that conf/base does not have was silently ignored; an env may still
    declare a new run."""
    import shutil

    from ecg_pipeline.errors import EcgConfigError

    shutil.copytree(CONF, tmp_path / "conf", ignore=shutil.ignore_patterns("local"))
    (tmp_path / "conf" / "local").mkdir()
    (tmp_path / "conf" / "local" / "parameters.yml").write_text("segmentaton:\n  scheme: centered\n")
    with pytest.raises(EcgConfigError, match=r"^conf/local: segmentaton.scheme: unknown parameter 'segmentaton'; "
                                             r"did you mean 'segmentation.scheme'\?$"):
        load_declaration(tmp_path / "conf", env="local")
    (tmp_path / "conf" / "local" / "parameters.yml").write_text(
        "runs:\n  ce_mlp2:\n    family: ce\n    data: mitdb\n    model: {name: mlp}\n    objective: {name: ce}\n")
    assert "ce_mlp2" in load_declaration(tmp_path / "conf", env="local").runs


def test_the_check_leaves_the_sessions_loader_resolving_its_own_globals():
    """OmegaConf's globals resolver is process-wide: reading conf/base alone must not leave the session's loader
    resolving the catalog with base's globals (ci's data_root is ../shared/data)."""
    from kedro.config import OmegaConfigLoader

    from ecg_pipeline.config_loader import CONFIG_LOADER_ARGS
    from ecg_pipeline.pipelines.declaration import check_runtime_params

    loader = OmegaConfigLoader(conf_source=str(CONF), env="ci", **CONFIG_LOADER_ARGS)
    check_runtime_params(loader)  # reads conf/ci alone, then conf/base alone (its globals: data/01_raw)
    assert loader["catalog"]["{database}_raw"]["path"].startswith("../shared/data/")


# ---- certify: certified lower bounds declared like an attack (issue 24) -------------------------------------------

def test_certify_is_instantiated_for_verifiable_models_on_the_attacks_beats(parameters):
    """``<run>.certify`` for every MIT-BIH MLP and Kachuee CNN run (the CNN with its ``by_model`` keys: a sample of
    the attacks' beats, nested), never for the masked ResNet (CPSC) or Han CNN (CinC) runs; its node reads the block
    and the data's attack defaults and builds the declared spec: the attacks' grid, bounds, eps_max, per_class and
    seed."""
    from ecg_pipeline.pipelines.declaration.certification import spec_params
    from ecg_pipeline.verification.grid import CertifySpec

    def certified_runs(params) -> dict:
        attack = build_pipelines(read_declaration(params))["attack"]
        return {n.namespace.rsplit(".", 1)[0]: n for n in attack.nodes if n.name.endswith(".certify.certify")}

    declaration = read_declaration(parameters)
    runs = declaration.model_runs
    certified = certified_runs(parameters)
    assert set(certified) == {r for r, run in runs.items()
                              if run.model in ("mlp", "kachuee_cnn") and run.data.name == "mitdb"}
    assert {"ce_mlp", "nsr_mlp", "nsr_mlp_sweep", "ce_cnn", "nsr_cnn"} <= set(certified)
    node = certified["ce_mlp"]
    assert node.inputs == ["ce_mlp.model", "mitdb_test", "params:certify", "params:data.mitdb.attack_defaults"]
    assert node.outputs == ["ce_mlp.certify.metrics", "ce_mlp.certify.examples"]
    defaults = parameters["data"]["mitdb"]["attack_defaults"]
    spec = CertifySpec.from_params(spec_params(parameters["certify"], defaults))
    assert spec == declaration.certification.specs["mitdb"]
    assert CertifySpec.from_params(spec_params(parameters["certify"], defaults, "mlp")) == spec
    attacks = declaration.attack_spec("autoattack", "mitdb")
    assert (list(spec.grid), spec.per_class, spec.seed, spec.eps_max) == (list(attacks.grid), attacks.per_class,
                                                                          attacks.seed, attacks.eps_max)
    assert spec.method == "alpha_crown" and spec.milp_max_beats == 0
    assert spec.sample_per_class is None and not spec.nested
    cnn = CertifySpec.from_params(spec_params(parameters["certify"], defaults, "kachuee_cnn"))
    assert (cnn.sample_per_class, cnn.nested, cnn.grid, cnn.per_class) == (10, True, spec.grid, spec.per_class)
    # the main pipeline (a bare kedro run) certifies its runs, so the report's headline shows the bracket
    assert {n.name for n in build_pipelines(declaration)["main"].nodes if n.name.endswith(".certify")} == {
        "ce_mlp.certify.certify", "nsr_mlp.certify.certify"}

    parameters["certify"]["models"] = ["mlp"]       # as conf/ci: by_model's CNN keys stay, unused
    mlp_only = certified_runs(parameters)
    assert {runs[r].model for r in mlp_only} == {"mlp"} and "ce_cnn" not in mlp_only
    others = {r for r, run in runs.items() if run.model in ("masked_resnet", "han_cnn")}
    assert others and not others & set(certified)


@pytest.mark.parametrize("change, message", [
    ({"models": ["mlp", "masked_resnet"]}, r"'certify.models': expected a list of models the verifier translates"),
    ({"data": ["mitdb", "mitbd"]}, r"'certify.data': expected one of"),
    ({"data": ["cpsc2018"]}, r"'certify.data': 'cpsc2018' holds padded records"),
    ({"grid": [0.01, 0.03]}, r"'certify.grid': expected ascending eps values >= 0 that start at 0"),
    ({"method": "crwn"}, r"'certify.method'.*did you mean 'crown'"),
    ({"milp": {"max_beats": 5, "time_limt": 3}}, r"'certify.milp.time_limt': unknown key; did you mean 'time_limit'"),
    ({"milp": {"max_beats": 5, "eps": [0.02]}}, r"'certify.milp.eps': expected grid points"),
    ({"by_model": {"han_cnn": {"nested": True}}}, r"'certify.by_model.han_cnn': not a model the verifier translates"),
    ({"by_model": {"kachuee_cnn": {"sample_per_clas": 3}}},
     r"'certify.by_model.kachuee_cnn.sample_per_clas': unknown key; did you mean 'sample_per_class'"),
    ({"by_model": {"kachuee_cnn": {"models": ["mlp"]}}}, r"'certify.by_model.kachuee_cnn.models': a declaration key"),
    ({"by_model": ["kachuee_cnn"]}, r"'certify.by_model': expected a mapping"),
])
def test_a_bad_certify_block_is_refused_naming_the_key(parameters, change, message):
    from ecg_pipeline.errors import EcgConfigError

    parameters["certify"] = {**parameters["certify"], **change}
    with pytest.raises(EcgConfigError, match=message):
        read_declaration(parameters)


def test_the_certify_parameters_are_checked_like_the_others():
    from ecg_pipeline.errors import EcgConfigError
    from ecg_pipeline.pipelines.declaration import check_override_paths, runtime_variables

    for override in ({"certify": {"method": "crown"}}, {"certify": {"milp": {"max_beats": 50}}},
                     {"certify": {"alpha_steps": 5, "per_class": 20, "margin_tol": 1e-3}}):  # keys conf/ leaves out too
        check_override_paths(override, _ci_parameters(), runtime_variables(CONF))
    with pytest.raises(EcgConfigError, match=r"^--params certify.metod: unknown parameter 'certify.metod'; "
                                             r"did you mean 'certify.method'\?$"):
        check_override_paths({"certify": {"metod": "crown"}}, _ci_parameters(), runtime_variables(CONF))
    with pytest.raises(EcgConfigError, match=r"did you mean 'certify.milp.max_beats'\?$"):
        check_override_paths({"certify": {"milp": {"max_beat": 5}}}, _ci_parameters(), runtime_variables(CONF))
