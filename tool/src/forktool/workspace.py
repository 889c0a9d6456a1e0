"""Where things live: the repo's own files and the gitignored work areas the tool creates."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def find(cls) -> Workspace:
        """The repo root: FORK_ROOT if set, else the checkout this package lives in."""
        env = os.environ.get("FORK_ROOT")
        return cls(Path(env).resolve() if env else Path(__file__).resolve().parents[3])

    @property
    def pins_file(self) -> Path:
        return self.root / "upstream.toml"

    @property
    def patches(self) -> Path:
        return self.root / "patches"

    @property
    def tree(self) -> Path:
        """The materialized upstream monorepo work tree (gitignored): base commit plus the series."""
        return self.root / "airflow"

    @property
    def state(self) -> Path:
        """Caches, builds and environments (gitignored)."""
        return self.root / ".fork"

    @property
    def downloads(self) -> Path:
        return self.state / "downloads"

    def wheels(self, label: str) -> Path:
        return self.state / "wheels" / label

    def venv(self, label: str) -> Path:
        return self.state / "venvs" / label

    @property
    def requirements(self) -> Path:
        """Extra packages the test environment needs (never part of the custom wheels)."""
        return self.root / "requirements" / "test.txt"

    @property
    def devel_common(self) -> Path:
        """The fork's tests_common package for upstream's test suites (test environments only)."""
        return self.root / "devel-common"

    @property
    def known_failures(self) -> Path:
        """Upstream tests that fail on the unpatched base, each with its reason."""
        return self.devel_common / "known-failures.txt"

    @property
    def constraints(self) -> Path:
        """Pins of all third-party packages (./fork lock writes it)."""
        return self.root / "requirements" / "constraints.txt"
