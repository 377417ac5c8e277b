"""Classification and robustness metrics (numpy, Kedro-free)."""
