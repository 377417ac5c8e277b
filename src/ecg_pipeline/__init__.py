"""ecg_pipeline: adversarially robust ECG classification as Kedro pipelines."""

__version__ = "0.1.0"
