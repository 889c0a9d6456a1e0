from __future__ import annotations


class ForkError(Exception):
    """An error the user can act on: printed as one line (what went wrong, then what to do)."""

    def __init__(self, problem: str, hint: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.problem} ({self.hint})" if self.hint else self.problem
