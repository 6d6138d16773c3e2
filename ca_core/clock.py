"""The one clock type: every time-dependent service takes a ``Clock`` so tests can move time.

``utcnow`` is the real clock (an aware UTC datetime, the only kind the store accepts); it is the
default wherever a clock is injected.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: A function returning the current time as an aware UTC datetime.
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)
