"""Performance benchmarks: scripts that print figures next to the naive approach, not timed tests.

Run everything with ``python -m bench.run_all`` (``--smoke`` for tiny sizes), or one benchmark with
``python -m bench.<name>``. See ``docs/performance.md``.
"""
