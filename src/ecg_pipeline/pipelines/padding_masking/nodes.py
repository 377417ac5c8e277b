"""Compatibility only: ``tests/pipelines/test_cpsc_study.py`` imports the CPSC 2018 node functions from here.
The nodes are built from CPSC 2018's declaration (``data/cpsc2018/__init__.py``) by the data template; remove
this module once that test takes them from ``create_pipeline()`` (issue 25)."""

from __future__ import annotations

from .pipeline import create_pipeline


def _node_function(name: str):
    return next(node.func for node in create_pipeline().nodes if node.name == name)


def split_cpsc(records, params):
    return _node_function("split_cpsc2018")(records, params)


def pad_cpsc_train(records, params):
    return _node_function("pad_cpsc2018_train")(records, params)


def pad_cpsc_eval(records, params):
    return _node_function("pad_cpsc2018_test")(records, params)
