# Licensed to the Apache Software Foundation (ASF) under one
# or more contributor license agreements.  See the NOTICE file
# distributed with this work for additional information
# regarding copyright ownership.  The ASF licenses this file
# to you under the Apache License, Version 2.0 (the
# "License"); you may not use this file except in compliance
# with the License.  You may obtain a copy of the License at
#
#   http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing,
# software distributed under the License is distributed on an
# "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY
# KIND, either express or implied.  See the License for the
# specific language governing permissions and limitations
# under the License.
"""Capture structlog events in tests, with a ``caplog``-compatible surface."""

from __future__ import annotations

import logging
import re
import sys
import traceback
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from collections.abc import Iterator, MutableMapping


class StructlogCapture:
    """
    A structlog processor that records each event dict and then drops it.

    Membership tests make assertions short::

        assert "some event" in cap  # matches on the ``event`` field
        assert {"event": "x", "field": 1} in cap  # subset match; values may be ``re.Pattern``

    It also mimics the parts of pytest's ``caplog`` the suites use (``text``, ``messages``,
    ``records``, ``record_tuples``, ``at_level``, ``set_level``, ``clear``).
    """

    name_to_level: dict[str, int]
    per_logger_levels: MutableMapping[str, int]

    def __init__(self) -> None:
        from airflow.sdk._shared.logging.structlog import NAME_TO_LEVEL, PER_LOGGER_LEVELS

        self.entries: list[dict[str, Any]] = []
        self._saved_levels: dict[str, int] = {}
        self.name_to_level = dict(NAME_TO_LEVEL)
        self.per_logger_levels = PER_LOGGER_LEVELS
        # Core keeps its own copy of the trie; point it at the SDK one so both honour changes.
        core_structlog = sys.modules.get("airflow._shared.logging.structlog")
        if core_structlog is not None:
            core_structlog.PER_LOGGER_LEVELS = PER_LOGGER_LEVELS  # type: ignore[attr-defined]

    # -- structlog processor -------------------------------------------------------------
    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> NoReturn:
        from structlog import DropEvent
        from structlog._log_levels import map_method_name

        event_dict["event"] = str(event_dict.get("event"))
        event_dict["log_level"] = map_method_name(method_name)
        if logger_name := getattr(logger, "name", None):
            event_dict["logger_name"] = logger_name
        if event_dict.get("exc_info") is True:
            event_dict["exc_info"] = sys.exc_info()
        self.entries.append(event_dict)
        raise DropEvent

    # -- querying ------------------------------------------------------------------------
    def _matches(self, entry: dict[str, Any], wanted: dict[str, Any]) -> bool:
        for key, expected in wanted.items():
            if key not in entry:
                return False
            actual = entry[key]
            if isinstance(expected, re.Pattern):
                if not isinstance(actual, str) or not expected.match(actual):
                    return False
            elif actual != expected:
                return False
        return True

    def __contains__(self, target: object) -> bool:
        if isinstance(target, str):
            return any(entry.get("event") == target for entry in self.entries)
        if isinstance(target, dict):
            return any(self._matches(entry, target) for entry in self.entries)
        raise TypeError(f"Cannot search captured logs with a {type(target).__name__}")

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.entries[index]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        return f"<StructlogCapture entries={len(self.entries)}>"

    @staticmethod
    def _format_exception(exc: Any) -> Iterator[str]:
        if isinstance(exc, tuple):
            yield from traceback.format_exception(*exc)
            return
        if isinstance(exc, BaseException):
            yield from traceback.format_exception(type(exc), exc, exc.__traceback__)
            return
        for position, item in enumerate(exc):
            if position:
                yield "\nDuring handling of the above exception, another exception occurred:\n\n"
            yield f"{item['exc_type']}: {item['exc_value']}\n"

    @property
    def text(self) -> str:
        """Every event (plus any exception) as one newline-separated string."""
        parts: list[str] = []
        for entry in self.entries:
            parts.append(f"{entry['event']}\n")
            exc = entry.get("exc_info") or entry.get("exception")
            if exc:
                parts.extend(self._format_exception(exc))
        return "".join(parts)

    @property
    def messages(self) -> list[str]:
        return [entry["event"] for entry in self.entries]

    def _logger_of(self, entry: dict[str, Any]) -> str | None:
        return entry.get("logger") or entry.get("logger_name")

    @property
    def records(self) -> list[logging.LogRecord]:
        result = []
        for entry in self.entries:
            record = logging.LogRecord(
                self._logger_of(entry) or "",
                self.name_to_level.get(entry.get("log_level", ""), 0),
                "?",
                0,
                entry["event"],
                (),
                entry.get("exc_info") or entry.get("exception"),
            )
            record.message = record.getMessage()
            result.append(record)
        return result

    @property
    def record_tuples(self) -> list[tuple[str | None, int, str]]:
        return [
            (self._logger_of(e), self.name_to_level.get(e.get("log_level", ""), 0), e["event"])
            for e in self.entries
        ]

    def clear(self) -> None:
        self.entries = []

    # -- level control -------------------------------------------------------------------
    def _to_level(self, level: str | int) -> int:
        return self.name_to_level[level.lower()] if isinstance(level, str) else level

    def _restore_level(self, key: str, level: int) -> None:
        logging.getLogger(key).setLevel(level)
        if level == logging.NOTSET:
            self.per_logger_levels.pop(key, None)
        else:
            self.per_logger_levels[key] = level

    @contextmanager
    def at_level(self, level: str | int, logger: str | None = None) -> Iterator[StructlogCapture]:
        """Temporarily lower/raise the level; without ``logger`` also the ``airflow`` logger."""
        numeric = self._to_level(level)
        keys = [logger] if logger else ["", "airflow"]
        with ExitStack() as stack:
            for key in keys:
                std_logger = logging.getLogger(key)
                stack.callback(self._restore_level, key, self.per_logger_levels.get(key, logging.NOTSET))
                self.per_logger_levels[key] = numeric
                std_logger.setLevel(numeric)
                if std_logger.handlers:
                    handler = std_logger.handlers[0]
                    stack.callback(handler.setLevel, handler.level)
                    handler.setLevel(numeric)
            yield self

    def set_level(self, level: str | int, logger: str | None = None) -> None:
        """Set a level until the end of the test."""
        key = logger or ""
        self._saved_levels.setdefault(key, self.per_logger_levels.get(key, logging.NOTSET))
        numeric = self._to_level(level)
        self.per_logger_levels[key] = numeric
        logging.getLogger(key).setLevel(numeric)

    def _finalize(self) -> None:
        for key, level in self._saved_levels.items():
            self._restore_level(key, level)
        self._saved_levels.clear()
