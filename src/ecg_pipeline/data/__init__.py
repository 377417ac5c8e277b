"""ECG data science: readers, labels, beats, splits, balancing, padding. No Kedro here."""
