"""Opening the ceremony's token: the PIN rebuilt from K custodians' shares, only in memory.

``open_with_shares`` is the only place a rebuilt PIN exists: it is handed to the PKCS#11 login
as a literal ``PinSource`` and never returned, logged or written. A wrong rebuild (which the
share tag makes very unlikely) shows up as a failed login, which ``Pkcs11Backend`` audits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ceremony_scripts.errors import ShareError
from ceremony_scripts.runner import Custody
from ceremony_scripts.shamir import combine
from hsm.pin import PinSource
from hsm.pkcs11_backend import Pkcs11Backend


def open_with_shares(
    module: str,
    token_label: str,
    shares: Sequence[str],
    custodians: Sequence[str],
    *,
    threshold: int | None = None,
    on_login_failure: Callable[[str, str], None] | None = None,
) -> tuple[Pkcs11Backend, Custody]:
    """Rebuild the PIN from ``shares`` and log in; refuse (nothing touched) on any share fault."""
    rebuilt = combine(shares)
    if threshold is not None and rebuilt.k != threshold:
        raise ShareError(
            f"the shares are of a {rebuilt.k}-of-{rebuilt.n} split; the ceremony file expects "
            f"threshold {threshold}"
        )
    custody = Custody("shares", tuple(custodians), rebuilt.split_id, len(rebuilt.xs))
    backend = Pkcs11Backend(
        module, token_label, PinSource.literal(rebuilt.secret), on_login_failure=on_login_failure
    )
    del rebuilt  # the PinSource inside the backend is the only holder from here on
    backend.list_keys()  # log in now: a wrong PIN is refused before the ceremony starts
    return backend, custody
