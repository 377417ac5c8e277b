"""The robustness report: figures, paper-style tables and a self-contained HTML page, from stored
evaluation artifacts (plain Python: numpy, pandas, matplotlib; no Kedro)."""
