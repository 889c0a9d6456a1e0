"""The AIP-98 fork's tool: rebuild the pinned upstream base, apply and export the patch series,
build custom wheels, and run the tests, demo and benchmarks against them.

Layers, each importing only from those above it in this list (no cycles):

- the shared basics at the top: ``errors``, ``progress``, ``workspace``, ``interpreters``;
- ``stack/``: the parts of a test or benchmark stack on 127.0.0.1 (an embedded Airflow and the
  program of one DAG run, sshd, Redis, Chromium, a latency proxy, apt) and the seeded SFTP data set;
- ``series/``: the pins, the upstream tree and the patch series (materialize, apply, export), wheels,
  environments, the series and upstream-suite checks, ``./fork test`` and ``./fork upstream-branch``;
- ``bench/``: the benchmarks of ``./fork bench``;
- ``demo`` and ``cli`` (``./fork``).
"""
