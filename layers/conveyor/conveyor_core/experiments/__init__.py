"""Experiments on a live endpoint: an A/B test with a sequential verdict, and a Thompson-sampling bandit."""
