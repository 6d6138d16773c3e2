"""Bounded work on hostile PDFs, through the engine (issue 16): every document of the corpus is
signed with a tag and verified by a runtime with small budgets; each answer is a clear refusal
or a correct result, within twice the deadline, and the process tree stays within its memory
bound. The same corpus goes through every HTTP endpoint and the CLI in test_pdf_hostile_http.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator

import pytest

from ca_core.config import PdfConfig
from psre.services import Services
from signing_api.pdf_pool import (
    Budget,
    DocumentTooComplexError,
    PdfPool,
    PdfWorkerError,
    PdfWorkersBusyError,
)
from signing_api.pdf_sign import (
    InvalidPdfError,
    PdfSignError,
    SignOptions,
    Stamp,
    StampPlacementError,
    sign_pdf,
)
from signing_api.runtime import pdf_engine
from tests import hostile_pdf_support as hostile
from tests.pdf_support import minimal_pdf
from tests.proc_support import TreeSampler, returns_a_callable, sleeps, tree_rss_mb
from tests.signing_support import SigningPki, spki  # noqa: F401
from tests.verify_support import verify_with_store

BUDGET = PdfConfig(workers=2, max_seconds=4.0, max_memory_mb=400, max_pages=2000)


@pytest.fixture(scope="module")
def rt(spki: SigningPki) -> Iterator[Services]:  # noqa: F811
    """A runtime on the test PKI with small PDF budgets."""
    bounded = Services(dataclasses.replace(spki.rt.config, pdf=BUDGET))
    bounded.__dict__.update(
        store=spki.store, backend=spki.rt.backend, issuer=spki.rt.issuer, revoker=spki.rt.revoker
    )
    yield bounded
    bounded.pdf_pool.close()


@pytest.fixture(scope="module")
def signer(spki: SigningPki):  # noqa: F811
    return spki.new_signer("Dewi Lestari")


#: hostile.SIGN_OUTCOMES as what sign_pdf returns or raises.
ANSWERS = {
    "too_complex": DocumentTooComplexError,
    "invalid": InvalidPdfError,
    "no_tag": StampPlacementError,
    "signed": bytes,
}


def _bounded(rt: Services) -> TreeSampler:
    """Memory of this process and its descendants: what the tree holds now, plus room for two
    PDF workers. The base is the whole tree, not this process alone: earlier tests' servers may
    still be children of the test process, and their memory is not this test's to judge."""
    base = tree_rss_mb(os.getpid())
    return TreeSampler(os.getpid(), kill_above_mb=base + 6 * BUDGET.max_memory_mb)


@pytest.mark.parametrize("visible", [True, False], ids=["tag", "invisible"])
@pytest.mark.parametrize("case", hostile.corpus(scale=1.0), ids=lambda c: c.name)
def test_hostile_documents_are_signed_or_refused_within_budget(rt, signer, case, visible):
    outcome = hostile.SIGN_OUTCOMES[case.name][0 if visible else 1]
    expected = ANSWERS[outcome]
    opts = SignOptions(level="B-T", stamp=Stamp(tag=case.tag) if visible else None)
    started = time.monotonic()
    with _bounded(rt) as mem:
        try:
            answer: object = sign_pdf(pdf_engine(rt), case.data, signer, opts)
        except (PdfSignError, DocumentTooComplexError) as ex:
            answer = ex
    took = time.monotonic() - started
    print(
        f"{case.name}: {type(answer).__name__} {str(answer)[:80]} {took:.1f} s {mem.peak_mb:.0f} MB"
    )
    assert type(answer) is expected, answer
    assert took < 2 * BUDGET.max_seconds
    assert not mem.killed
    if isinstance(answer, bytes):
        assert verify_with_store(rt, answer).summary == "VALID"
    else:
        assert answer.api_code == (4131 if outcome == "too_complex" else 4015)
    # The pool still works: a real document signs at once.
    assert sign_pdf(pdf_engine(rt), minimal_pdf(), signer, SignOptions(level="B-B"))


@pytest.fixture(scope="module")
def signed(rt: Services, signer) -> bytes:
    return sign_pdf(pdf_engine(rt), minimal_pdf("Surat Tugas"), signer, SignOptions(level="B-T"))


def test_copied_signature_fields_are_refused_or_reported_within_budget(rt, signed):
    for case in hostile.signed_corpus(signed):
        started = time.monotonic()
        with _bounded(rt) as mem:
            try:
                answer: object = verify_with_store(rt, case.data)
            except DocumentTooComplexError as ex:
                answer = ex
        took = time.monotonic() - started
        print(
            f"{case.name}: {answer if isinstance(answer, Exception) else answer.summary} "
            f"{took:.1f} s {mem.peak_mb:.0f} MB"
        )
        assert took < 2 * BUDGET.max_seconds, case.name
        n = int(case.name.rsplit("-", 1)[1])
        if n > BUDGET.max_signature_fields:
            assert isinstance(answer, DocumentTooComplexError), case.name
            assert answer.api_code == 4131
            continue
        assert answer.summary == "INVALID", case.name
        by_name = {r.field_name: r for r in answer.signatures}
        first = by_name.pop("Signature1")
        copies = list(by_name.values())
        assert first.intact and first.trusted
        assert first.modified_after_signing  # fields were added after it
        assert len(copies) == n and not any(c.valid for c in copies)
        assert all("Signature1" in c.problems[0] for c in copies)


# --- the pool itself ---------------------------------------------------------------------------


def test_a_child_cannot_send_the_parent_anything_but_plain_values() -> None:
    pool = PdfPool(Budget(workers=1, seconds=10, memory_mb=200))
    try:
        with pytest.raises(PdfWorkerError):
            pool.run(returns_a_callable)
        assert pool.run(sleeps, 0) == "awake"  # and the pool goes on
    finally:
        pool.close()


def test_deadline_kills_the_child_and_a_full_pool_answers_busy() -> None:
    from concurrent.futures import ThreadPoolExecutor

    pool = PdfPool(Budget(workers=1, seconds=1.5, memory_mb=200))
    try:
        with ThreadPoolExecutor(2) as threads:
            slow = threads.submit(pool.run, sleeps, 30)
            time.sleep(0.3)
            started = time.monotonic()
            with pytest.raises(PdfWorkersBusyError) as busy:
                pool.run(sleeps, 0, deadline=started + 0.5)  # waits for a child until then
            assert busy.value.api_code == 5032 and time.monotonic() - started < 1.5
            with pytest.raises(DocumentTooComplexError):
                slow.result(timeout=10)
        assert pool.replaced == 1
        assert pool.run(sleeps, 0) == "awake"
        with pytest.raises(DocumentTooComplexError):  # a request whose time is used up
            pool.run(sleeps, 0, deadline=time.monotonic() - 1)
    finally:
        pool.close()
