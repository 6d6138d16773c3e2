"""Memory of a process tree, read from /proc while something runs (the hostile-PDF tests).

A sampler thread sums the resident memory of a process and all its descendants every few
milliseconds and keeps the peak; should the tree pass ``kill_above_mb`` (the code under test
running away, as it did before issue 16), the whole tree is killed — the test process itself
when it is the root — so that the test fails instead of taking the machine down.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def tree(pid: int) -> list[int]:
    """``pid`` and every descendant."""
    kids = _children()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out


def rss_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def tree_rss_mb(pid: int) -> float:
    return sum(rss_mb(p) for p in tree(pid))


class TreeSampler:
    """``with TreeSampler(pid) as s: ...`` then ``s.peak_mb``: the tree's peak resident memory."""

    def __init__(self, pid: int, kill_above_mb: float = 4096, every: float = 0.02) -> None:
        self.pid = pid
        self.kill_above_mb = kill_above_mb
        self.every = every
        self.peak_mb = 0.0
        self.killed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeSampler:
        self.peak_mb = tree_rss_mb(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        # /proc is re-listed only now and then: between listings the known tree is re-read,
        # which is what keeps the sampling interval at a few milliseconds.
        pids = tree(self.pid)
        listed = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() - listed > 0.2:
                pids, listed = tree(self.pid), time.monotonic()
            total = sum(rss_mb(p) for p in pids)
            self.peak_mb = max(self.peak_mb, total)
            if total > self.kill_above_mb:
                self.killed = True
                _say_why(self.pid, total, self.kill_above_mb)
                for p in reversed(tree(self.pid)):  # descendants first, ``pid`` last
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
                return
            self._stop.wait(self.every)


def _say_why(root: int, total: float, limit: float) -> None:
    """Before the tree dies, name its largest members where a person will read it: pytest
    captures this process's own stderr, so the parent's (make's, in CI) is used when it can be
    opened. Without this, a CI log says only 'Killed'."""
    sizes = sorted(((rss_mb(p), p) for p in tree(root)), reverse=True)[:8]
    line = (
        f"\nproc_support: tree of {root} at {total:.0f} MB > {limit:.0f} MB; killing it. "
        + ", ".join(f"{_comm(p)}[{p}] {mb:.0f} MB" for mb, p in sizes)
        + "\n"
    )
    for path in (f"/proc/{os.getppid()}/fd/2", "/dev/stderr"):
        try:
            with open(path, "w") as out:
                out.write(line)
            return
        except OSError:
            continue


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


# --- jobs for PDF worker pool tests: importable in a child without the test modules' imports ---


def returns_a_callable() -> object:
    return print  # what a child taken over by a document could send to run code in the parent


def sleeps(seconds: float) -> str:
    time.sleep(seconds)
    return "awake"
