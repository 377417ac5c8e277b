"""The missing-input message names the command that writes the input, narrowed to its run where the family
pipeline holds runs of several databases."""

from __future__ import annotations

from ecg_pipeline.hooks import producer_command


def test_a_missing_model_names_its_own_run_not_the_whole_family():
    assert producer_command("ce_cpsc.model") == "kedro run --pipelines=train_ce --namespaces=ce_cpsc"
    assert producer_command("dec_mlp_m1.train_features") == "kedro run --pipelines=train_ens --namespaces=dec_mlp_m1"


def test_a_stage_output_names_its_stage_and_unknown_names_nothing():
    assert producer_command("mitdb_train") == "kedro run --pipelines=segmentation"
    assert producer_command("atk_gan_train_set") == "kedro run --pipelines=attack_generation"
    assert producer_command("no_such_dataset") is None


def test_a_printed_command_repeats_the_sessions_env_and_params():
    # Copied from a quick or ci run, the command must stay in that configuration (issue 26: they dropped it).
    from ecg_pipeline import run_context

    run_context.set_current("quick", {"data_root": "/data", "runs": {"ce_mlp": {"epochs": 3}}}, "conf")
    try:
        assert producer_command("ce_cpsc.model") == ("kedro run --pipelines=train_ce --namespaces=ce_cpsc --env=quick "
                                                     "--params=data_root=/data,runs.ce_mlp.epochs=3")
        assert producer_command("atk_gan_train_set").endswith("--pipelines=attack_generation --env=quick "
                                                              "--params=data_root=/data,runs.ce_mlp.epochs=3")
    finally:
        run_context.set_current(None, None, None)
