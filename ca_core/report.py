"""The periodic figures a PSrE reports to the ministry, for a period [from, to).

Sources, and why:

* certificates issued — the ``certificates`` rows created in the period, by profile;
* revoked — certificates whose (final) revocation time falls in the period, by reason: the row
  keeps the published revocation time even when a restore re-applied it later;
* suspended — holds placed in the period (``certificate.suspend`` audit events: a released
  hold leaves no trace in the row);
* signatures — ``sign.pdf`` (API, per client app) and ``pdf.signed`` (``psre pdf sign``) audit
  events, by client app, the signer's agency and PAdES level;
* lockouts — ``sign.activation_failed`` events that locked the signer, by agency.

Every figure is counted in the database (SQL GROUP BY where the columns allow it); only the
audit events' JSON details are read in Python, and only those of the period and actions above.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ca_core.errors import CaError
from ca_core.store import ReadOnlyStore, reporting

#: Who signed through ``psre pdf sign`` (no client app).
CLI_CLIENT = "(psre pdf sign)"
NO_AGENCY = "(none)"
#: The audit actions the report counts.
_ACTIONS = ("certificate.suspend", "sign.pdf", "pdf.signed", "sign.activation_failed")


class ReportError(CaError):
    code = "report_invalid"


@dataclass
class Report:
    period_from: dt.datetime
    period_to: dt.datetime
    issued: dict[str, int] = field(default_factory=dict)  # profile -> n
    revoked: dict[str, int] = field(default_factory=dict)  # reason -> n
    suspended: int = 0
    #: (client app, agency, level) -> n
    signatures: dict[tuple[str, str, str], int] = field(default_factory=dict)
    lockouts: dict[str, int] = field(default_factory=dict)  # agency -> n

    def as_dict(self) -> dict[str, Any]:
        sig = Counter()  # type: Counter[str]
        by = {"client_app": Counter(), "agency": Counter(), "level": Counter()}  # type: dict[str, Counter[str]]
        for (client, agency, level), n in self.signatures.items():
            by["client_app"][client] += n
            by["agency"][agency] += n
            by["level"][level] += n
            sig["total"] += n
        return {
            "from": _z(self.period_from),
            "to": _z(self.period_to),
            "certificates_issued": {"total": sum(self.issued.values()), "by_profile": self.issued},
            "certificates_revoked": {
                "total": sum(self.revoked.values()),
                "by_reason": self.revoked,
            },
            "certificates_suspended": {"total": self.suspended},
            "signatures": {
                "total": sig["total"],
                **{f"by_{k}": dict(sorted(v.items())) for k, v in by.items()},
                "detail": [
                    {"client_app": c, "agency": a, "level": lv, "count": n}
                    for (c, a, lv), n in sorted(self.signatures.items())
                ],
            },
            "lockouts": {"total": sum(self.lockouts.values()), "by_agency": self.lockouts},
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False)

    def to_csv(self) -> str:
        """One row per figure: metric, client_app, agency, level, reason, profile, count."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["metric", "client_app", "agency", "level", "reason", "profile", "count"])
        w.writerow(["period", "", "", "", "", f"{_z(self.period_from)}/{_z(self.period_to)}", ""])
        for profile, n in sorted(self.issued.items()):
            w.writerow(["certificates_issued", "", "", "", "", profile, n])
        for reason, n in sorted(self.revoked.items()):
            w.writerow(["certificates_revoked", "", "", "", reason, "", n])
        w.writerow(["certificates_suspended", "", "", "", "", "", self.suspended])
        for (client, agency, level), n in sorted(self.signatures.items()):
            w.writerow(["signatures", client, agency, level, "", "", n])
        for agency, n in sorted(self.lockouts.items()):
            w.writerow(["lockouts", "", agency, "", "", "", n])
        return buf.getvalue()

    def to_text(self) -> str:
        d = self.as_dict()
        lines = [f"psre report {d['from']} .. {d['to']} (to excluded)"]
        lines.append(f"certificates issued      {d['certificates_issued']['total']}")
        lines += [f"  {p:22} {n}" for p, n in sorted(self.issued.items())]
        lines.append(f"certificates revoked     {d['certificates_revoked']['total']}")
        lines += [f"  {r:22} {n}" for r, n in sorted(self.revoked.items())]
        lines.append(f"certificates suspended   {self.suspended}")
        lines.append(f"signatures               {d['signatures']['total']}")
        lines += [f"  {c} / {a} / {lv}: {n}" for (c, a, lv), n in sorted(self.signatures.items())]
        lines.append(f"lockouts                 {d['lockouts']['total']}")
        lines += [f"  {a:22} {n}" for a, n in sorted(self.lockouts.items())]
        return "\n".join(lines) + "\n"


def build(store: ReadOnlyStore, period_from: dt.datetime, period_to: dt.datetime) -> Report:
    if period_from.tzinfo is None or period_to.tzinfo is None:
        raise ReportError("period bounds must carry a time zone (UTC)")
    if period_from >= period_to:
        raise ReportError("--from must be before --to")
    r = Report(period_from, period_to)
    figures = reporting.period_figures(store, period_from, period_to, _ACTIONS)
    r.issued = figures.issued_by_profile
    r.revoked = {reason or "unspecified": n for reason, n in figures.revoked_by_reason.items()}
    agencies = _agencies(figures.subscribers)
    sigs: Counter[tuple[str, str, str]] = Counter()
    locks: Counter[str] = Counter()
    for event in figures.events:
        actor, action, obj = event.actor, event.action, event.object
        details = json.loads(event.details)
        if action == "certificate.suspend":
            r.suspended += 1
        elif action == "sign.pdf":
            key = obj.removeprefix("subscriber:")
            client = actor.removeprefix("client:")
            sigs[(client, agencies.get(key, NO_AGENCY), str(details.get("level", "?")))] += 1
        elif action == "pdf.signed":
            key = str(details.get("subscriber", ""))
            sigs[(CLI_CLIENT, agencies.get(key, NO_AGENCY), str(details.get("level", "?")))] += 1
        elif details.get("locked"):
            locks[agencies.get(obj.removeprefix("subscriber:"), NO_AGENCY)] += 1
    r.signatures = dict(sigs)
    r.lockouts = dict(locks)
    return r


def _agencies(subscribers: list[reporting.SubscriberAgency]) -> dict[str | None, str]:
    """Subscriber key (NIK or organizationIdentifier) -> agency: a civil servant's agency, or
    the agency itself for a seal."""
    return {
        sub.key: (sub.name if sub.kind == "agency" else sub.agency) or NO_AGENCY
        for sub in subscribers
    }


def parse_bound(value: str, *, end: bool = False) -> dt.datetime:
    """``YYYY-MM-DD`` (midnight UTC; as --to, the day is included) or an ISO 8601 time."""
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            t = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            return t + dt.timedelta(days=1) if end else t
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ReportError(f"{value!r} is not a date (YYYY-MM-DD) or ISO 8601 time") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _z(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
