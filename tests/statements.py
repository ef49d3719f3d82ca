"""Capture the SQL statements an engine runs (what a test counts or EXPLAINs)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event


@contextmanager
def captured_statements(engine: Engine) -> Iterator[list[tuple[str, object]]]:
    """(statement, parameters) of every cursor execution inside the block, in order."""
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield captured
    finally:
        event.remove(engine, "before_cursor_execute", capture)
