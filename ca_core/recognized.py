"""The CAs the PSrE Induk recognizes (licensed PSrEs' CAs, cross-certified foreign roots), as
the trusted list and the verifier read them (the ceremony steps in ceremony_scripts.induk write
them). The queries live in :mod:`ca_core.store.recognized`."""

from __future__ import annotations

from ca_core.store.recognized import Recognized, list_recognized, withdraw

__all__ = ["Recognized", "list_recognized", "withdraw"]
