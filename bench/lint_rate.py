"""Certificates linted per second by ca_core.lint (pkilint in-process).

Run: .venv/bin/python bench/lint_rate.py [--calls 200]
The first call of each lint set builds its pkilint validators (reported separately); the rate is
over the following calls, which is what issuance pays per certificate. The certificates are the
profiles tests/test_lint.py proves clean.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography import x509

from ca_core.lint import blocking, lint_certificate
from tests.test_lint import der, legal_person_seal, mailbox, natural_person, root_ca

SCENARIOS: list[tuple[str, Callable[[], x509.Certificate], frozenset[str]]] = [
    ("root CA, pkix", root_ca, frozenset({"pkix"})),
    ("natural person, pkix", natural_person, frozenset({"pkix"})),
    ("natural person, pkix+etsi", natural_person, frozenset({"pkix", "etsi"})),
    ("legal person seal, pkix+etsi", legal_person_seal, frozenset({"pkix", "etsi"})),
    ("S/MIME mailbox, pkix+cabf_smime", mailbox, frozenset({"pkix", "cabf_smime"})),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200)
    args = ap.parse_args()
    print(f"{'scenario':34} {'first call':>11} {'per call':>10} {'certs/s':>9}")
    for title, make, lint_sets in SCENARIOS:
        cert = der(make())
        t0 = time.perf_counter()
        findings = lint_certificate(cert, lint_sets)
        first = time.perf_counter() - t0
        assert not blocking(findings), findings
        t0 = time.perf_counter()
        for _ in range(args.calls):
            lint_certificate(cert, lint_sets)
        per_call = (time.perf_counter() - t0) / args.calls
        print(f"{title:34} {first * 1e3:9.1f}ms {per_call * 1e3:8.2f}ms {1 / per_call:9.0f}")


if __name__ == "__main__":
    main()
