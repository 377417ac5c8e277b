"""Kedro pipelines: thin wiring around the domain code in ecg_pipeline.data (and later models, attacks)."""
