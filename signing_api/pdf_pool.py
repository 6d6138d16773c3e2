"""Bounded work on untrusted PDFs: a small pool of child processes with a memory and a time
budget (issue 16).

pyHanko and pdfminer.six have no limits of their own: a page tree claiming 2^31 pages, a content
stream inflating to gigabytes or thousands of copied signature fields make them allocate and
compute without end, inside the web worker that also serves everyone else. So every parse of a
document a client sent — page count, tag search, stamp placement, preparing the signed revision,
verification — runs in a child process whose address space is capped (``RLIMIT_AS`` at its
starting size plus the budget: a document needing more raises MemoryError there) and which is
killed at its deadline, so work for a client that has gone away stops at the latest then. Over
budget, the request gets :class:`DocumentTooComplexError` (4131) and the child is replaced; the
web worker never holds more than the document and the answer.

The split with the HSM: PKCS#11 sessions do not survive a fork, and keys must stay in the token
and in the process that logged in. So the child never touches the token or the database: when
pyHanko, in the child, needs the raw signature over the signed attributes (or a timestamp
token), it asks the parent through the pipe (:func:`call_parent`), and the parent signs with the
key of *this* job's certificate and nothing else, a bounded number of times. The same goes for
certificate status look-ups during verification. Everything the child computes is untrusted by
the parent: answers are unpickled with an allow-list of classes (:func:`_loads`), never with
plain ``pickle``.

Children are forked from multiprocessing's fork server — a fresh single-threaded interpreter
that has imported pyHanko once — not from the web worker itself: forking a threaded process with
an initialised PKCS#11 module copies locks held by other threads and the module's state. A
child serves jobs one after another; it is replaced after a budget overrun, a crash, or when it
has grown past half its memory budget.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import os
import pickle
import resource
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, TypeVar

from ca_core.errors import CaError

if TYPE_CHECKING:
    from ca_core.config import PdfConfig

log = logging.getLogger(__name__)

T = TypeVar("T")

#: What the children import before the first job (through the fork server, once).
PRELOAD = ["signing_api.pdf_preload"]
#: A child whose address space grew by this share of its budget is replaced after its job
#: (Python keeps what it allocated; a child near its limit is slow, not just refused).
RECYCLE_SHARE = 0.5


class PdfBudgetError(CaError):
    """A document could not be processed within the configured budgets."""

    code = "pdf_budget"


class DocumentTooComplexError(PdfBudgetError):
    """Over a budget: pages, signature fields, time or memory (e-sign API code 4131)."""

    code = "document_too_complex"
    api_code = 4131


class PdfWorkersBusyError(PdfBudgetError):
    """No child became free in time: the server is saturated (5032, retry later)."""

    code = "pdf_workers_busy"
    api_code = 5032


class PdfWorkerError(CaError):
    """The child failed in a way no document should cause (a bug of ours, logged; 5000)."""

    code = "pdf_worker_error"
    api_code = 5000


@dataclass(frozen=True)
class Budget:
    #: Children at most (concurrent documents).
    workers: int
    #: Wall-clock seconds of one job (and of waiting for a free child).
    seconds: float
    #: Address space a child may add to what it starts with, MiB.
    memory_mb: int
    #: Filled signature fields a verified document may have (each costs a validation).
    max_signature_fields: int = 50


# --- the parent side ---------------------------------------------------------------------------


class _Child:
    def __init__(self, ctx: Any, budget: Budget) -> None:
        self.conn, child_end = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(
            target=_serve, args=(child_end, budget.memory_mb), name="psre-pdf", daemon=True
        )
        self.proc.start()
        child_end.close()
        self.healthy = True

    def kill(self) -> None:
        self.healthy = False
        try:
            self.proc.kill()
            self.proc.join(5)
        except (OSError, ValueError, AssertionError):
            pass  # already gone
        self.conn.close()


class PdfPool:
    """Runs module-level functions on untrusted documents in bounded children."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(PRELOAD)
        self._slots = threading.BoundedSemaphore(budget.workers)
        self._lock = threading.Lock()
        self._idle: list[_Child] = []
        self._closed = False
        #: Children killed or lost, for operators and tests (per process).
        self.replaced = 0

    def run(
        self,
        fn: Callable[..., T],
        *args: Any,
        services: Mapping[str, Callable[..., Any]] | None = None,
        deadline: float | None = None,
    ) -> T:
        """``fn(*args)`` in a child; the child may call ``services`` by name through
        :func:`call_parent`. ``deadline`` (``time.monotonic()``) caps the job's own budget.

        Raises what ``fn`` raised (if it is an allowed class), DocumentTooComplexError over
        budget, PdfWorkersBusyError when no child is free within the budget, PdfWorkerError when
        the child failed otherwise, or what a service raised.
        """
        wait = self.budget.seconds if deadline is None else deadline - time.monotonic()
        if wait <= 0:  # a bulk request whose earlier documents used up its time
            raise DocumentTooComplexError("the request needs more time than it is given")
        if not self._slots.acquire(timeout=min(wait, self.budget.seconds)):
            raise PdfWorkersBusyError("all PDF workers are busy; try again shortly")
        try:
            child = self._take()  # starting one (and the fork server) is not the job's time
            end = time.monotonic() + self.budget.seconds
            if deadline is not None:
                end = min(end, deadline)
            try:
                return self._exchange(child, fn, args, services or {}, end)
            finally:
                self._give_back(child)
        finally:
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for child in idle:
            child.conn.close()  # EOF: the child leaves its loop
            child.proc.join(2)
            if child.proc.is_alive():
                child.kill()

    def _take(self) -> _Child:
        with self._lock:
            if self._closed:
                raise PdfWorkerError("the PDF worker pool is closed")
            while self._idle:
                child = self._idle.pop()
                if child.proc.is_alive():
                    return child
                self.replaced += 1
        return _Child(self._ctx, self.budget)

    def _give_back(self, child: _Child) -> None:
        if not child.healthy:
            self.replaced += 1
            child.kill()
            return
        with self._lock:
            if not self._closed:
                self._idle.append(child)
                return
        child.conn.close()

    def _exchange(
        self,
        child: _Child,
        fn: Callable[..., T],
        args: tuple[Any, ...],
        services: Mapping[str, Callable[..., Any]],
        end: float,
    ) -> T:
        # Unhealthy (to be killed) unless the job ends with an answer: a deadline, a service
        # failing, or anything raised in this thread leaves the child mid-job.
        child.healthy = False
        try:
            child.conn.send((fn, args, self.budget.seconds))
        except (OSError, ValueError) as ex:
            raise PdfWorkerError("could not hand the document to a PDF worker") from ex
        while True:
            left = end - time.monotonic()
            if left <= 0 or not child.conn.poll(left):
                raise DocumentTooComplexError(
                    f"the document needs more than {self.budget.seconds:g} s to process"
                )
            try:
                kind, *rest = _loads(child.conn.recv_bytes())
            except (EOFError, OSError):
                raise self._lost(child) from None
            if kind == "call":
                name, call_args = rest
                service = services.get(name)
                if service is None:
                    raise PdfWorkerError(f"a PDF worker asked for an unknown service {name!r}")
                # A service failing mid-job (the HSM down) ends the job: the child is replaced
                # rather than unwound.
                child.conn.send(("ret", service(*call_args)))
            elif kind == "ok":
                child.healthy = not rest[1]  # (value, retiring)
                return rest[0]
            elif kind == "error":
                child.healthy = not rest[1]  # the job raised; the child is back in its loop
                raise rest[0]
            elif kind == "memory":
                # The child exits: a MemoryError leaves its heap fragmented.
                raise DocumentTooComplexError(
                    f"the document needs more than {self.budget.memory_mb} MB to process"
                )
            else:  # "crash": details are in the child's log
                raise PdfWorkerError(f"the PDF worker failed: {rest[0]}")

    def _lost(self, child: _Child) -> CaError:
        child.proc.join(5)
        code = child.proc.exitcode
        if code is not None and code < 0:
            # SIGXCPU (the CPU backstop), SIGKILL (the OOM killer), SIGSEGV (deep recursion in
            # C): each caused by the document.
            log.warning("a PDF worker died of signal %d", -code)
            return DocumentTooComplexError("the document could not be processed within limits")
        return PdfWorkerError(f"the PDF worker exited with status {code}")


# --- what a child may send back ---------------------------------------------------------------

#: (module, name) of every class a child's answer may contain. Anything else — in particular
#: any callable — makes the answer unreadable: a child that a document took over must not be able
#: to run code in the process that holds the HSM sessions.
_ALLOWED: set[tuple[str, str]] = {
    ("datetime", "datetime"),
    ("datetime", "timezone"),
    ("datetime", "timedelta"),
    ("datetime", "date"),
}


def allow_in_answers(*classes: type) -> None:
    """Let these classes (dataclasses, exceptions of ours) come back from children."""
    for cls in classes:
        _ALLOWED.add((cls.__module__, cls.__qualname__))


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed from a PDF worker")
        return super().find_class(module, name)


def _loads(data: bytes) -> Any:
    try:
        return _Unpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError) as ex:
        log.error("unreadable answer from a PDF worker: %s", ex)
        return ("crash", "unreadable answer")


# --- the child side ----------------------------------------------------------------------------

_parent: Connection | None = None


def call_parent(name: str, *args: Any) -> Any:
    """Run the parent's service ``name`` (see :meth:`PdfPool.run`) and return its answer."""
    if _parent is None:
        raise PdfWorkerError("call_parent() outside a PDF worker")
    _parent.send_bytes(pickle.dumps(("call", name, args)))
    kind, value = _parent.recv()
    if kind != "ret":
        raise PdfWorkerError(f"unexpected message from the parent: {kind}")
    return value


def _serve(conn: Connection, memory_mb: int) -> None:
    """The child's loop: one job at a time until the parent closes the pipe."""
    global _parent
    _parent = conn
    _die_with_parent()
    _one_malloc_arena()
    # The budget is on top of what the child starts with (pyHanko & co., ~120 MB): a document
    # may make it allocate memory_mb more. Hard limit too: it cannot be raised again.
    base = _address_space_mb()
    limit = int((base + memory_mb) * 1024 * 1024)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGXCPU must not write a core file
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when a child ends
    while True:
        try:
            fn, args, seconds = conn.recv()
        except (EOFError, OSError):
            return
        _cpu_backstop(seconds)
        try:
            answer: tuple[Any, ...] = ("ok", fn(*args))
        except MemoryError:
            answer = ("memory",)
        except CaError as ex:
            answer = ("error", ex)
        except Exception as ex:
            log.exception("PDF worker job %s failed", getattr(fn, "__name__", fn))
            answer = ("crash", type(ex).__name__)
        grown = _address_space_mb() - base
        retiring = answer[0] in ("memory", "crash") or grown > memory_mb * RECYCLE_SHARE
        try:
            data = pickle.dumps((*answer, retiring) if len(answer) == 2 else answer)
        except MemoryError:
            answer, data = ("memory",), pickle.dumps(("memory",))
        except Exception:
            answer = ("crash", type(answer[-1]).__name__)
            data = pickle.dumps(answer)
        try:
            conn.send_bytes(data)
        except (OSError, ValueError):
            return  # the parent gave up on this job (deadline) or went away
        if retiring or answer[0] != "ok" and answer[0] != "error":
            return


def _cpu_backstop(seconds: float) -> None:
    """SIGXCPU a little after the job's budget in CPU time: should the parent die without
    killing this child, the child still cannot run on (the deadline normally comes first)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(used + seconds) + 5
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _die_with_parent() -> None:
    """SIGKILL this child when the fork server (and so the web worker) is gone."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the CPU backstop still bounds it
        pass
    if os.getppid() == 1:
        os._exit(0)


def _one_malloc_arena() -> None:
    """glibc reserves 64 MB of address space for each thread's malloc arena (pyHanko signs in
    a helper thread): under RLIMIT_AS that is budget spent on nothing, and a child near its
    limit crawls through failing allocations instead of failing. One arena is plenty for one
    job at a time."""
    try:
        import ctypes

        m_arena_max = -8
        ctypes.CDLL(None).mallopt(m_arena_max, 1)
    except (OSError, AttributeError):  # not glibc
        pass


def _address_space_mb() -> float:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


# --- the configured budget ---------------------------------------------------------------------


def budget_of(cfg: PdfConfig) -> Budget:
    """The budget the ``[pdf]`` section sets (the process's one pool is built by
    ``psre.services`` with it)."""
    return Budget(
        workers=cfg.workers,
        seconds=cfg.max_seconds,
        memory_mb=cfg.max_memory_mb,
        max_signature_fields=cfg.max_signature_fields,
    )
