"""The printable ceremony report (Markdown and HTML), made from the transcript alone.

Witnesses sign the printout: it lists the file hash, who was there, every step with its key and
certificate fingerprints grouped for reading aloud, the outcome, the transcript's head hash and
signature, and blank signature lines. Anything here can be recomputed from the transcript, so the
report adds no facts of its own.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from ceremony_scripts.transcript import SIGNATURE_ACTION, read


def aloud(hex_digest: str) -> str:
    """A fingerprint as colon-separated byte pairs, in groups of 8 per line for reading aloud."""
    pairs = [hex_digest[i : i + 2].upper() for i in range(0, len(hex_digest), 2)]
    return "\n".join(":".join(pairs[i : i + 8]) for i in range(0, len(pairs), 8))


def _model(entries: list[dict[str, Any]]) -> dict[str, Any]:
    start = (
        entries[0]["details"] if entries and entries[0].get("action") == "ceremony.start" else {}
    )
    steps: dict[int, dict[str, Any]] = {}
    end = next((e for e in entries if e.get("action") == "ceremony.end"), None)
    stopped = next((e for e in entries if e.get("action") == "ceremony.stopped"), None)
    sig = entries[-1] if entries and entries[-1].get("action") == SIGNATURE_ACTION else None
    for e in entries:
        d = e.get("details", {})
        n = d.get("step")
        if n is None:
            continue
        s = steps.setdefault(n, {"items": [], "acks": [], "calls": [], "title": "", "type": ""})
        a = e["action"]
        if a == "step.start":
            s["title"], s["type"] = d.get("title", ""), d.get("type", "")
        elif a == "key.generate":
            s["items"].append(("Key pair", d["label"], d["key_type"], d["spki_sha256"]))
        elif a == "certificate.issue":
            s["items"].append(("Certificate", d["subject"], d["profile"], d["fingerprint_sha256"]))
        elif a == "output.write":
            s["items"].append(("File", d["path"], d["role"], d["sha256"]))
        elif a == "step.end":
            s["calls"] = d.get("pkcs11_calls", [])
        elif a == "witness.ack":
            s["acks"].append((e["actor"], d.get("ack", "")))
    if end is None:
        last = entries[-1]["action"] if entries else "empty"
        outcome = f"INCOMPLETE: the transcript stops at entry {len(entries)} ({last})"
    elif stopped is not None:
        sd = stopped["details"]
        outcome = f"FAILED at step {sd['step']} during {sd['stage']}: {sd['reason']}"
    else:
        outcome = "COMPLETE"
    return {
        "start": start,
        "steps": steps,
        "outcome": outcome,
        "stopped": stopped["details"] if stopped else None,
        "signature": sig["details"] if sig else None,
        "head": entries[-1]["hash"] if entries else "",
        "count": len(entries),
    }


def markdown(entries: list[dict[str, Any]]) -> str:
    m = _model(entries)
    st = m["start"]
    custody = st.get("custody", {})
    present = ", ".join(custody.get("custodians_present", [])) or f"(none: {custody.get('mode')})"
    out = [f"# Key ceremony report: {st.get('name', '?')}", "", f"File: {st.get('file', '?')}", ""]
    if st.get("mode") and st.get("mode") != "attended":
        out += [f"**{st['mode']}** — not a witnessed ceremony.", ""]
    out += [
        f"- Ceremony file SHA-256: `{st.get('file_sha256', '?')}`",
        f"- Token: `{st.get('token_label')}`"
        + (f", slot {st['slot']}" if st.get("slot") is not None else ""),
        f"- Operator: {st.get('operator')}",
        f"- Custodians expected: {', '.join(st.get('custodians_expected', []))} "
        f"(threshold {st.get('threshold')})",
        f"- Custodians present: {present}",
        f"- Witnesses: {', '.join(st.get('witnesses', []))}",
        f"- Started: {entries[0]['time'] if entries else '?'}",
        "",
        f"## Outcome: {m['outcome']}",
        "",
    ]
    if m["stopped"]:
        s = m["stopped"]
        out += [
            "- Keys destroyed (half-made in the failed step): "
            + (", ".join(s["keys_destroyed"]) or "none"),
            "- Keys kept: "
            + (", ".join(f"{k['label']} ({k['why']})" for k in s["keys_kept"]) or "none"),
            f"- CA records removed: {', '.join(s['cas_removed']) or 'none'}",
            "",
        ]
    for n in sorted(m["steps"]):
        s = m["steps"][n]
        out += [f"## Step {n}: {s['title']} ({s['type']})", ""]
        for kind, what, extra, fp in s["items"]:
            out += [f"**{kind}** {what} ({extra}) — SHA-256:", "", "```", aloud(fp), "```", ""]
        if s["calls"]:
            out += ["PKCS#11 calls:", ""] + [f"- `{c}`" for c in s["calls"]] + [""]
        if s["acks"]:
            out += ["Witnessed by: " + "; ".join(f"{w} — {a}" for w, a in s["acks"]), ""]
    out += ["## Transcript", "", f"- Entries: {m['count']}", f"- Head hash: `{m['head']}`"]
    if m["signature"]:
        sig = m["signature"]
        out += [
            f"- Signed by key `{sig['key_label']}` ({sig['algorithm']}), key SHA-256:",
            "",
            "```",
            aloud(sig["spki_sha256"]),
            "```",
        ]
    else:
        out += ["- NOT SIGNED"]
    out += ["", "## Signatures", ""]
    for who in [st.get("operator"), *st.get("witnesses", [])]:
        out += [f"{who}: ______________________________  date: ____________", ""]
    return "\n".join(out) + "\n"


def to_html(md: str, title: str) -> str:
    """A self-contained printable page from the report's Markdown (only the subset used above)."""
    body: list[str] = []
    in_code = in_list = False
    for line in md.splitlines():
        if line.startswith("```"):
            body.append("</pre>" if in_code else "<pre>")
            in_code = not in_code
            continue
        if in_code:
            body.append(html.escape(line))
            continue
        if in_list and not line.startswith("- "):
            body.append("</ul>")
            in_list = False
        text = _inline(line)
        if line.startswith("# "):
            body.append(f"<h1>{_inline(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{_inline(line[3:])}</h2>")
        elif line.startswith("- "):
            if not in_list:
                body.append("<ul>")
                in_list = True
            body.append(f"<li>{_inline(line[2:])}</li>")
        elif line:
            body.append(f"<p>{text}</p>")
    if in_list:
        body.append("</ul>")
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;max-width:50em;margin:2em auto}"
        "pre{font-size:1.2em;background:#f4f4f4;padding:.5em}"
        "h2{border-bottom:1px solid #999}@media print{h2{page-break-after:avoid}}"
        "</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _inline(text: str) -> str:
    import re

    t = html.escape(text)
    t = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", t)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", t)


def write(transcript: Path, md_path: Path, html_path: Path) -> None:
    md = markdown(read(transcript))
    md_path.write_text(md, encoding="utf-8")
    html_path.write_text(to_html(md, f"Key ceremony report {transcript.name}"), encoding="utf-8")
