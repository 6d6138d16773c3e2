"""Whether a CA may act: its certificate and every one above it good and within validity.

Nothing issues, signs or stamps under a CA whose own certificate is revoked, on hold or outside
its validity, nor under one whose parent's is (BR 4.9.1.2, ETSI EN 319 411-1 §6.3.9: a revoked
CA certificate ends everything beneath it). The check reads the database every time — no cache
— so a revocation committed by another process (the ceremony, the console) takes effect on the
very next request. It is one small query: every CA row with its own certificate's status.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from cryptography import x509

from ca_core.errors import CaError
from ca_core.store import ReadOnlyStore
from ca_core.store.ca_chain import ca_standings

#: A CA certificate's state → the code of the refusal and the e-sign API's status word.
STATES = {
    "revoked": ("issuer_revoked", "CA_REVOKED"),
    "hold": ("issuer_suspended", "CA_SUSPENDED"),
    "expired": ("issuer_expired", "CA_EXPIRED"),
    "not_yet_valid": ("issuer_not_yet_valid", "CA_NOT_YET_VALID"),
    "uncertified": ("issuer_uncertified", "CA_NOT_CERTIFIED"),
}
#: What the console and the API say about each state.
WORDS = {
    "revoked": "revoked",
    "hold": "suspended",
    "expired": "expired",
    "not_yet_valid": "not yet valid",
    "uncertified": "without a certificate",
}


@dataclass(frozen=True)
class ChainProblem:
    """The first CA on the way up whose certificate is not good, and how."""

    ca: str
    state: str
    reason: str | None = None

    @property
    def code(self) -> str:
        return STATES[self.state][0]

    @property
    def api_status(self) -> str:
        return STATES[self.state][1]

    @property
    def message(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return (
            f"CA {self.ca}'s certificate is {WORDS[self.state]}{why}: "
            "nothing is issued or signed under it"
        )


class IssuerNotGood(CaError):
    """Refused because a CA on the chain is not good; ``code`` names the state.

    ``api_code`` is the e-sign API's 2022 (see signing_api.esign_errors)."""

    code = "issuer_not_good"
    api_code = 2022

    def __init__(self, problem: ChainProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem
        self.code = problem.code
        self.ca = problem.ca

    @property
    def api_extra(self) -> dict[str, str]:
        """Added to the e-sign API's error answer: which CA, and how it is not good."""
        return {"ca": self.ca, "ca_status": WORDS[self.problem.state]}


@functools.lru_cache(maxsize=64)
def _validity(der: bytes) -> tuple[dt.datetime, dt.datetime]:
    c = x509.load_der_x509_certificate(der)
    return c.not_valid_before_utc, c.not_valid_after_utc


def chain_problem(store: ReadOnlyStore, issuer_id: int, now: dt.datetime) -> ChainProblem | None:
    """The first problem on the chain from CA ``issuer_id`` up to its root, or None if good."""
    rows = ca_standings(store)
    seen: set[int] = set()
    at: int | None = issuer_id
    while at is not None and at not in seen:
        seen.add(at)
        row = rows.get(at)
        if row is None:
            break
        if row.certificate_der is None:
            return ChainProblem(row.name, "uncertified")
        if row.status in ("revoked", "hold"):
            return ChainProblem(row.name, row.status, row.revocation_reason)
        # The validity comes from the certificate itself: a CA imported without a stored row
        # (a dry run's stand-in) is still checked for time.
        not_before, not_after = _validity(row.certificate_der)
        if now > not_after:
            return ChainProblem(row.name, "expired")
        if now < not_before:
            return ChainProblem(row.name, "not_yet_valid")
        at = row.parent_id
    return None


def require_good_chain(store: ReadOnlyStore, issuer_id: int, now: dt.datetime) -> None:
    """Raise :class:`IssuerNotGood` unless CA ``issuer_id`` and those above it are good."""
    problem = chain_problem(store, issuer_id, now)
    if problem is not None:
        raise IssuerNotGood(problem)
