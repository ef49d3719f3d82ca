"""Timestamps PostgreSQL can hold but Python cannot are read back clamped instead of failing the query.

PostgreSQL's timestamptz spans 4713 BC to 294276 AD (and +/-infinity); Python's datetime spans years
1 to 9999. A value outside (e.g. `0001-01-01T00:00:00+14:00`, which is 1 BC in UTC, or
`9999-12-31T23:59:59-14:00`, which is year 10000) made psycopg raise DataError on every read of the
row, so one bad row turned whole list pages into errors for everyone who could see it. Inputs are
range-checked on the way in (CSV import, spins); this is the safety net for rows stored before that,
or written by anything else: such a value reads as the earliest / latest datetime Python has.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.adapt import Loader
from psycopg.pq import Format

EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)

_installed = False


def _tolerant(type_name: str, fmt: Format, low: datetime, high: datetime) -> type[Loader]:
    oid = psycopg.adapters.types[type_name].oid
    inner_cls = psycopg.adapters.get_loader(oid, fmt)
    if inner_cls is None:  # pragma: no cover - psycopg always has these
        raise RuntimeError(f"psycopg has no loader for {type_name}")

    class TolerantLoader(Loader):
        format = fmt

        def __init__(self, oid: int, context: Any = None) -> None:
            super().__init__(oid, context)
            self._inner = inner_cls(oid, context)

        def load(self, data: Any) -> datetime:
            try:
                return self._inner.load(data)
            except (psycopg.DataError, OverflowError, ValueError):
                return low if _is_low(bytes(data), fmt) else high

    TolerantLoader.__name__ = TolerantLoader.__qualname__ = f"Tolerant{inner_cls.__name__}"
    return TolerantLoader


def _is_low(data: bytes, fmt: Format) -> bool:
    """Whether an unreadable value lies before year 1 (else after 9999)."""
    if fmt == Format.BINARY:
        return len(data) == 8 and struct.unpack("!q", data)[0] < 0  # microseconds since 2000-01-01
    return data.startswith(b"-") or data.rstrip().endswith(b"BC")  # "-infinity", "0001-12-31 ... BC"


def install() -> None:
    """Register the tolerant loaders globally (connections made afterwards use them). Idempotent."""
    global _installed
    if _installed:
        return
    naive_low, naive_high = EARLIEST.replace(tzinfo=None), LATEST.replace(tzinfo=None)
    for fmt in (Format.TEXT, Format.BINARY):
        psycopg.adapters.register_loader("timestamptz", _tolerant("timestamptz", fmt, EARLIEST, LATEST))
        psycopg.adapters.register_loader("timestamp", _tolerant("timestamp", fmt, naive_low, naive_high))
    _installed = True
