"""Reliability harnesses that run the whole pipeline on the offline cloud under injected faults."""
