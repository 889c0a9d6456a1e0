"""The two embedded Airflows every stack benchmark compares: the unpatched base and the fork."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from forktool.interpreters import Interpreter
from forktool.progress import say
from forktool.series.env import ensure_env
from forktool.series.pins import Pins
from forktool.stack.airflow_stack import AirflowStack
from forktool.workspace import Workspace


@contextlib.contextmanager
def stacks_side_by_side(
    ws: Workspace, pins: Pins, label: str, interpreter: Interpreter | None = None
) -> Iterator[dict[str, AirflowStack]]:
    """A started embedded Airflow running bench/dags for the unpatched base and one for the fork."""
    pythons = {
        "upstream base": ensure_env(ws, pins, label, base=True, interpreter=interpreter),
        f"fork (+{label})": ensure_env(ws, pins, label, interpreter=interpreter),
    }
    with tempfile.TemporaryDirectory(prefix="bench-", dir=ws.state) as tmp:
        stacks = {
            name: AirflowStack(
                home=Path(tmp) / f"home-{i}", dags_folder=ws.root / "bench" / "dags", python=python
            )
            for i, (name, python) in enumerate(pythons.items())
        }
        try:
            for name, stack in stacks.items():
                say(f"starting Airflow for {name}")
                stack.start()
            yield stacks
        finally:
            for stack in stacks.values():
                stack.stop()
