"""Finding profiles by what they are for (``role`` in the TOML), so that no code names a profile.

A new profile is then a TOML file: the OCSP responder, the TSA, the CA-level protections and the
subscriber signing paths find it by its role. Functions take the profile set to search; without
one they use the shipped profiles (``policies/profiles``), which is what the CA loads too.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from policies.errors import RoleError
from policies.schema import CA_LEVEL_ROLES, Kind, Profile, Role, load_profiles

Profiles = Mapping[str, Profile]


@functools.cache
def shipped() -> Profiles:
    """The shipped profile set, read once per process."""
    return load_profiles()


def names_with_role(*roles: Role, profiles: Profiles | None = None) -> frozenset[str]:
    """Names of the profiles with any of ``roles``."""
    found = shipped() if profiles is None else profiles
    return frozenset(p.name for p in found.values() if p.role in roles)


def ca_level_names(profiles: Profiles | None = None) -> frozenset[str]:
    """Profiles of CA-level certificates: the CAs and their OCSP responders and TSA units."""
    return names_with_role(*CA_LEVEL_ROLES, profiles=profiles)


def one_with_role(
    role: Role, *, kind: Kind | None = None, profiles: Profiles | None = None
) -> Profile:
    """The one profile with ``role`` (and ``kind``, to tell a root from an issuing CA)."""
    found = shipped() if profiles is None else profiles
    matches = [p for p in found.values() if p.role == role and (kind is None or p.kind == kind)]
    what = f"role {role!r}" + (f" and kind {kind!r}" if kind else "")
    if not matches:
        raise RoleError(f"no certificate profile has {what}")
    if len(matches) > 1:
        names = ", ".join(sorted(p.name for p in matches))
        raise RoleError(f"several certificate profiles have {what} ({names}); expected one")
    return matches[0]


def signing_profile_for(subscriber_kind: str, profiles: Profiles | None = None) -> Profile:
    """The profile a subscriber of ``subscriber_kind`` signs (a person) or seals (an agency)
    documents with: role subscriber-signing or seal, mapping that kind of record."""
    found = shipped() if profiles is None else profiles
    matches = [
        p
        for p in found.values()
        if p.role in ("subscriber-signing", "seal")
        and p.subscriber is not None
        and subscriber_kind in p.subscriber.kinds
    ]
    if len(matches) != 1:
        names = ", ".join(sorted(p.name for p in matches)) or "none"
        raise RoleError(
            f"expected one signing or seal profile for {subscriber_kind!r} subscribers, "
            f"found {names}"
        )
    return matches[0]
