"""Benchmarks: each module measures one thing and writes JSON to benchmarks/results/.

Run one from the repository root as ``python -m benchmarks.NAME`` or ``python benchmarks/NAME.py``
(both work; no ``sys.path`` edits), all of them with ``python benchmarks/run_all.py``.
Shared helpers are in :mod:`benchmarks.common`; tests import ``benchmarks.NAME`` directly.
"""
