"""Production monitoring: the training baseline, captured requests, and data drift against the baseline."""
