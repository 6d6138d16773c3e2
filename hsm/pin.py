"""Where a PIN comes from: an environment variable, a file, or an interactive prompt.

The PIN is read at the moment of login and handed straight to the PKCS#11 library. ``PinSource``
only describes *where* it is, so it is safe to print, log and keep in configuration.
"""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from hsm.errors import HsmLoginError


@dataclass(frozen=True)
class PinSource:
    kind: str  # "env" | "file" | "prompt" | "literal"
    where: str = ""
    #: Only for kind "literal" (tests and ceremony-reconstructed PINs); never shown.
    _value: str = ""

    @classmethod
    def parse(cls, spec: str, base_dir: Path | None = None) -> PinSource:
        """Parse ``env:VAR``, ``file:PATH`` (relative to ``base_dir``) or ``prompt``."""
        if spec == "prompt":
            return cls("prompt")
        kind, sep, rest = spec.partition(":")
        if not sep or not rest or kind not in ("env", "file"):
            raise ValueError("PIN source must be env:VAR, file:PATH or prompt")
        if kind == "file" and base_dir is not None and not Path(rest).is_absolute():
            rest = str(base_dir / rest)
        return cls(kind, rest)

    @classmethod
    def literal(cls, pin: str) -> PinSource:
        """A PIN already in memory (e.g. rebuilt from custodians' shares)."""
        return cls("literal", "", pin)

    def describe(self) -> str:
        return {"env": f"env:{self.where}", "file": f"file:{self.where}"}.get(self.kind, self.kind)

    def __repr__(self) -> str:  # never show a literal PIN
        return f"PinSource({self.describe()})"

    __str__ = describe

    def read(self, token_label: str) -> str:
        if self.kind == "literal":
            return self._value
        if self.kind == "env":
            value = os.environ.get(self.where)
            if not value:
                raise HsmLoginError(
                    f"no PIN for token '{token_label}': environment variable {self.where} is unset"
                )
            return value
        if self.kind == "file":
            try:
                value = Path(self.where).read_text(encoding="utf-8").strip()
            except OSError as ex:
                raise HsmLoginError(
                    f"no PIN for token '{token_label}': cannot read {self.where} ({ex.strerror})"
                ) from None
            if not value:
                raise HsmLoginError(f"no PIN for token '{token_label}': {self.where} is empty")
            return value
        if not sys.stdin.isatty():
            raise HsmLoginError(f"no PIN for token '{token_label}': prompt needs a terminal")
        return getpass.getpass(f"User PIN for token '{token_label}': ")
