"""The "training run i of n" line of ``TrainingProgressHook`` (no data: the hook is called as Kedro would)."""

import logging

from kedro.framework.hooks.manager import _create_hook_manager

from ecg_pipeline.pipeline_registry import build_pipelines
from ecg_pipeline.pipelines.training.hooks import TrainingProgressHook


def test_each_training_run_start_says_which_of_how_many(caplog):
    sweep = build_pipelines()["sweep"]  # training, attack and selection nodes
    hook = TrainingProgressHook()
    _create_hook_manager().register(hook)  # pluggy checks the methods against Kedro's hook specs
    with caplog.at_level(logging.INFO, logger="ecg_pipeline.pipelines.training.hooks"):
        hook.before_pipeline_run(run_params={}, pipeline=sweep, catalog=None)
        for node in sweep.nodes:
            hook.before_node_run(node=node)
    trained = [node.namespace for node in sweep.nodes if node.name.endswith(".train")]
    assert len(trained) > 1
    assert caplog.messages == [f"training run {i} of {len(trained)}: {run}" for i, run in enumerate(trained, 1)]


def test_nothing_is_said_in_a_process_that_never_saw_the_pipeline(caplog):
    node = build_pipelines()["train_ce"].nodes[0]
    with caplog.at_level(logging.INFO):
        TrainingProgressHook().before_node_run(node=node)  # a ParallelRunner worker
    assert not [m for m in caplog.messages if m.startswith("training run")]


def test_the_resume_command_repeats_the_env_and_params_of_the_run():
    from ecg_pipeline.pipelines.training.nodes import resume_command

    hook = TrainingProgressHook()
    hook.before_pipeline_run(run_params={"env": "quick", "runtime_params": {
        "runs": {"nsr_cnn": {"epochs": 10, "max_batches_per_epoch": 1200}}}}, pipeline=build_pipelines()["train_nsr"],
        catalog=None)
    assert resume_command("train_nsr", "nsr_cnn") == (
        "kedro run --pipelines=train_nsr --namespaces=nsr_cnn --env=quick "
        "--params=runs.nsr_cnn.epochs=10,runs.nsr_cnn.max_batches_per_epoch=1200")
    hook.before_pipeline_run(run_params={"env": None, "runtime_params": {}}, pipeline=build_pipelines()["train_nsr"],
                             catalog=None)
    assert resume_command("train_nsr", "nsr_cnn") == "kedro run --pipelines=train_nsr --namespaces=nsr_cnn"


def test_the_resume_command_drops_a_fresh_start():
    """After Ctrl-C, the printed command resumes: a ``resume=fresh`` of the interrupted command would start over."""
    from ecg_pipeline.pipelines.training.nodes import resume_command

    hook = TrainingProgressHook()
    hook.before_pipeline_run(run_params={"env": "ci", "runtime_params": {
        "runs": {"ce_mlp": {"epochs": 5, "resume": "fresh"}}}}, pipeline=build_pipelines()["train_ce"], catalog=None)
    assert resume_command("train_ce", "ce_mlp", resume="fresh", section="runs.ce_mlp") == (
        "kedro run --pipelines=train_ce --namespaces=ce_mlp --env=ci --params=runs.ce_mlp.epochs=5,runs.ce_mlp.resume=auto")
    assert resume_command("train_ce", "ce_mlp", resume="extend", section="runs.ce_mlp") == (
        "kedro run --pipelines=train_ce --namespaces=ce_mlp --env=ci --params=runs.ce_mlp.epochs=5")
