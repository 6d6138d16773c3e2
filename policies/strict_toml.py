"""The one TOML reader behind ``psre.toml``, certificate profiles and ceremony files.

All three are strict: the text must be UTF-8 TOML and a key the reader does not know is an error,
never ignored (a misspelt key would otherwise silently keep its default). Each caller turns a
:class:`StrictTomlError` into its own package's error, which names the file and the key path.
It lives in ``policies`` because that is the lowest layer all three readers may import.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from policies.errors import PolicyError


class StrictTomlError(PolicyError):
    """``where`` (a file) could not be read as TOML: ``key`` is ``(file)`` or ``(syntax)``."""

    code = "toml_invalid"

    def __init__(self, where: str, key: str, reason: str) -> None:
        super().__init__(f"{where}: {key}: {reason}")
        self.where = where
        self.key = key
        self.reason = reason


def parse(raw: bytes, where: str) -> dict[str, Any]:
    """The TOML document in ``raw`` (UTF-8)."""
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as ex:
        raise StrictTomlError(where, "(syntax)", str(ex)) from None


def read(path: Path) -> dict[str, Any]:
    """The TOML document in the file at ``path``."""
    try:
        raw = path.read_bytes()
    except OSError as ex:
        raise StrictTomlError(str(path), "(file)", f"cannot read: {ex.strerror or ex}") from ex
    return parse(raw, str(path))


def unknown_keys(table: Mapping[str, Any], known: Iterable[str]) -> list[str]:
    """The keys of ``table`` outside ``known``, in the order they appear."""
    allowed = frozenset(known)
    return [k for k in table if k not in allowed]
