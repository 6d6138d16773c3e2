"""A guard around an asn1crypto 1.5.1 bug that made some signatures take forever.

asn1crypto decides that a parsed value had an indefinite (BER) length when its header's *last
byte* is 0x80 — which is also how every definite long-form length ending in 0x80 looks (128,
384, 640 … bytes: ``82 01 80``). It then re-encodes the value and everything under it with
``force``, reading each level's contents more than once: time exponential in the depth. A CMS
that embeds a parsed certificate or timestamp token of such a length made pyHanko's final
``dump()`` run for seconds to minutes — seen as PDF workers hitting their deadline on a random
one in a few dozen signatures (the lengths vary with the ECDSA signature and the TSA serial).
Upstream: wbond/asn1crypto issue 249.

The guard: before the original ``dump``, a header that ends in 0x80 without an end-of-contents
trailer (so its length was definite) is dropped; ``dump`` rebuilds the same header from the
contents, unforced. Values really parsed with an indefinite length keep the original behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asn1crypto import core

_INSTALLED = False


def _guarded(original: Callable[..., bytes]) -> Callable[..., bytes]:
    def dump(self: Any, force: bool = False) -> bytes:
        header = self._header
        if header is not None and header[-1:] == b"\x80" and not self._trailer:
            self._header = None
        return original(self, force)

    dump.__doc__ = original.__doc__
    dump.__wrapped__ = original  # type: ignore[attr-defined]
    return dump


def install() -> None:
    """Guard the five ``dump`` methods that carry the check (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
    for cls in (core.Asn1Value, core.Choice, core.Primitive, core.Sequence, core.SequenceOf):
        if "dump" in vars(cls):
            cls.dump = _guarded(vars(cls)["dump"])
