"""The benchmarks' charts: a script of bench/<name>/chart.py run by an environment's python."""

from __future__ import annotations

import subprocess
from pathlib import Path

from forktool.errors import ForkError
from forktool.series.env import env_vars


def draw_chart(python: Path, script: Path, results: Path, png: Path) -> None:
    """Run ``python script RESULTS_JSON PNG`` inside the environment of `python` (which has matplotlib,
    requirements/test.txt); its output goes to the terminal.

    Raises ForkError if the script fails.
    """
    drawn = subprocess.run([str(python), str(script), str(results), str(png)], env=env_vars(python))
    if drawn.returncode:
        raise ForkError(
            f"drawing the chart {png} failed (exit {drawn.returncode})",
            "see the output above (matplotlib: requirements/test.txt)",
        )
