"""Figures for the dashboard and the status page: counts, daily series, freshness, health.

CRL freshness comes from the CRL service's ``published_crls`` table (crl.publish.newest_crls);
the page says "not published yet" when a CA has none.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from markupsafe import Markup, escape

from ca_core.store import ReadOnlyStore
from ca_core.store.models import CertificateAuthority
from ca_core.store.statistics import Statistics


@dataclass(frozen=True)
class DailySeries:
    days: list[dt.date]
    issued: list[int]
    signed: list[int]


@dataclass(frozen=True)
class CrlFreshness:
    ca: str
    this_update: dt.datetime
    next_update: dt.datetime | None
    age: dt.timedelta
    fresh: bool


def counts(store: ReadOnlyStore) -> tuple[dict[str, int], dict[str, int]]:
    """(certificates by status, subscribers by status)."""
    found = Statistics(store).counts()
    return found.certificates, found.subscribers


def daily(store: ReadOnlyStore, now: dt.datetime, days: int = 30) -> DailySeries:
    """Certificates issued and signatures made per UTC day (signing counted from audit events
    whose action starts with ``sign`` or ends in ``.sign``)."""
    start = (now - dt.timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    stats = Statistics(store)
    issued = Counter(t.date() for t in stats.issued_since(start))
    signed = Counter(t.date() for t in stats.signatures_since(start))
    day_list = [(start + dt.timedelta(days=i)).date() for i in range(days)]
    return DailySeries(day_list, [issued[d] for d in day_list], [signed[d] for d in day_list])


def chart_svg(series: DailySeries, labels: tuple[str, str]) -> Markup:
    """A grouped bar chart as inline SVG: readable without any script, prints, scales."""
    w, h, pad_l, pad_r, pad_b, pad_t = 720, 200, 36, 24, 28, 12
    top = max([1, *series.issued, *series.signed])
    n = len(series.days)
    slot = (w - pad_l - pad_r) / n
    bar = max(slot / 2 - 1, 1)
    plot_h = h - pad_b - pad_t
    parts = [
        f'<svg class="chart" viewBox="0 0 {w} {h + 18}" role="img" '
        f'aria-label="{escape(labels[0])} / {escape(labels[1])}" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{pad_l}" y1="{h - pad_b}" x2="{w - pad_r}" y2="{h - pad_b}" class="axis"/>',
        f'<text x="{pad_l - 4}" y="{pad_t + 4}" class="tick" text-anchor="end">{top}</text>',
        f'<text x="{pad_l - 4}" y="{h - pad_b}" class="tick" text-anchor="end">0</text>',
    ]
    for i, day in enumerate(series.days):
        x = pad_l + i * slot
        for j, (value, cls) in enumerate(
            ((series.issued[i], "issued"), (series.signed[i], "signed"))
        ):
            bh = plot_h * value / top
            parts.append(
                f'<rect class="{cls}" x="{x + j * bar:.1f}" y="{h - pad_b - bh:.1f}" '
                f'width="{bar:.1f}" height="{bh:.1f}"><title>{day.isoformat()}: {value} '
                f"{escape(labels[j])}</title></rect>"
            )
        if i % 5 == 0 or i == n - 1:
            parts.append(
                f'<text x="{x + bar:.1f}" y="{h - pad_b + 14}" class="tick" '
                f'text-anchor="middle">{day.strftime("%d/%m")}</text>'
            )
    parts.append(
        f'<rect class="issued" x="{pad_l}" y="{h + 6}" width="10" height="10"/>'
        f'<text x="{pad_l + 14}" y="{h + 15}" class="tick">{escape(labels[0])}</text>'
        f'<rect class="signed" x="{pad_l + 140}" y="{h + 6}" width="10" height="10"/>'
        f'<text x="{pad_l + 154}" y="{h + 15}" class="tick">{escape(labels[1])}</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above


def crl_freshness(store: ReadOnlyStore, now: dt.datetime) -> list[CrlFreshness]:
    """The newest complete CRL of each CA (crl.publish's table); [] when none is published."""
    from crl.publish import newest_crls

    try:
        infos = newest_crls(store)
    except Exception:
        return []
    return [
        CrlFreshness(i.ca, i.this_update, i.next_update, now - i.this_update, now < i.next_update)
        for i in infos
        if i.kind == "full"
    ]


@dataclass(frozen=True)
class OcspFreshness:
    ca: str
    responses: int
    oldest_this_update: dt.datetime
    #: The soonest nextUpdate among the CA's pre-signed responses: the refresh must beat it.
    next_update: dt.datetime
    fresh: bool


def ocsp_freshness(store: ReadOnlyStore, now: dt.datetime) -> list[OcspFreshness]:
    """Per CA: how many pre-signed OCSP responses, the oldest thisUpdate and the soonest
    nextUpdate (fresh while that is still ahead)."""
    names = {ca.id: ca.name for ca in store.list_cas()}
    try:
        rows = Statistics(store).ocsp_coverage()
    except Exception:
        return []
    out = [
        OcspFreshness(
            names.get(r.issuer_id, str(r.issuer_id)),
            r.responses,
            r.oldest_this_update,
            r.soonest_next_update,
            now < r.soonest_next_update,
        )
        for r in rows
    ]
    return sorted(out, key=lambda f: f.ca)


def cas(store: ReadOnlyStore) -> list[CertificateAuthority]:
    return [ca for ca in store.list_cas() if ca.certificate_der is not None]
