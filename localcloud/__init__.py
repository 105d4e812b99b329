"""Conveyor's offline cloud: moto plus a local runtime that does the real work."""
