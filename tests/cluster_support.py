"""Machines of a test's own: Linux network namespaces on a bridge, nginx in front of them.

Each "host" is a network namespace with one veth pair into a bridge in the root namespace, an
address of its own on the bridge's /24, and its own hostname (the processes started in it run
under ``unshare --uts``, so ``socket.gethostname()`` names the host, as on real machines).
Everything is named ``psre-cl-<pid>-<tag>-…`` / ``pcl<tag>…`` so that a test killed before
its clean-up is recognised (its pid is gone) and cleaned up by the next run. Needs root.

A host "dies" by :meth:`Network.kill_host`: ``kill -9`` of every process in its namespace
(optionally its link goes down too: a machine that lost power closes no connection).
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.cli_support import wait_http

_NS_RE = re.compile(r"^psre-cl-(\d+)-([0-9a-f]{4})-h\d+$")


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


@dataclass(frozen=True)
class NetHost:
    """One machine: its namespace, hostname, address and the root end of its veth pair."""

    name: str
    netns: str
    address: str
    veth: str

    def argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this host: its namespace, its hostname."""
        return [
            "ip", "netns", "exec", self.netns, "unshare", "--uts", "sh", "-c",
            'hostname "$0" && exec "$@"', self.name, *argv,
        ]  # fmt: skip

    def pids(self) -> list[int]:
        res = ip("netns", "pids", self.netns, check=False)
        return [int(p) for p in res.stdout.split()]


@dataclass
class Network:
    """A bridge (the LAN) with ``gateway`` on it, and the hosts' namespaces."""

    tag: str
    bridge: str
    gateway: str
    hosts: list[NetHost] = field(default_factory=list)

    def kill_host(
        self, host: NetHost, *, cut_link: bool = False, timeout: float = 10.0
    ) -> list[int]:
        """``kill -9`` of every process of ``host`` until none is left (the kernel closes their
        connections: peers see a reset or an end of stream); with ``cut_link`` its link goes down
        too, and peers see nothing at all. Returns the pids killed."""
        killed: list[int] = []
        deadline = time.monotonic() + timeout
        while pids := host.pids():
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                    killed.append(p)
                except ProcessLookupError:
                    pass
            assert time.monotonic() < deadline, f"processes of {host.name} survive: {pids}"
            time.sleep(0.05)
        if cut_link:
            ip("link", "set", host.veth, "down", check=False)
        return killed


def _free_subnet() -> ipaddress.IPv4Network:
    """A random 10.x.y.0/24 that no interface of this machine is on."""
    used = [
        ipaddress.ip_interface(m).network
        for m in re.findall(r"inet (\S+)", ip("-4", "-o", "addr", "show").stdout)
    ]
    for _ in range(100):
        net = ipaddress.ip_network(
            f"10.{secrets.randbelow(50) + 200}.{secrets.randbelow(256)}.0/24"
        )
        if not any(net.overlaps(u) for u in used):
            return net
    raise RuntimeError("no free 10.x.y.0/24 for the test network")


def _remove(tag: str, netns: Sequence[str]) -> None:
    for ns in netns:
        for p in ip("netns", "pids", ns, check=False).stdout.split():
            try:
                os.kill(int(p), signal.SIGKILL)
            except ProcessLookupError:
                pass
        ip("netns", "del", ns, check=False)  # takes the namespace's veth end, and so the pair
    links = re.findall(rf"^\d+: (pcl{tag}[a-z0-9]*)[@:]", ip("-o", "link", "show").stdout, re.M)
    for link in links:
        ip("link", "del", link, check=False)


def remove_stale_networks() -> None:
    """Networks left by a test process that is gone (killed before its clean-up)."""
    names = [line.split()[0] for line in ip("netns", "list").stdout.splitlines() if line.strip()]
    stale: dict[str, list[str]] = {}
    for ns in names:
        m = _NS_RE.match(ns)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            stale.setdefault(m.group(2), []).append(ns)
    for tag, nss in stale.items():
        _remove(tag, nss)


@contextmanager
def network(host_names: Sequence[str]) -> Iterator[Network]:
    """A bridge and one namespace per name, addresses .11, .12, …; all removed afterwards (the
    processes still in the namespaces are killed first), whatever happened in between."""
    assert os.geteuid() == 0, "network namespaces need root"
    remove_stale_networks()
    tag = secrets.token_hex(2)
    subnet = _free_subnet()
    addrs = list(subnet.hosts())
    net = Network(tag, f"pcl{tag}br", str(addrs[0]))
    made: list[str] = []
    try:
        ip("link", "add", net.bridge, "type", "bridge")
        ip("addr", "add", f"{net.gateway}/24", "dev", net.bridge)
        ip("link", "set", net.bridge, "up")
        for i, name in enumerate(host_names, start=1):
            ns = f"psre-cl-{os.getpid()}-{tag}-h{i}"
            host = NetHost(name, ns, str(addrs[10 + i - 1]), f"pcl{tag}h{i}")
            ip("netns", "add", ns)
            made.append(ns)
            ip("link", "add", host.veth, "type", "veth", "peer", "name", f"{host.veth}p")
            ip("link", "set", f"{host.veth}p", "netns", ns)
            ip("link", "set", host.veth, "master", net.bridge, "up")
            inside = ["ip", "netns", "exec", ns, "ip"]
            for args in (
                ["addr", "add", f"{host.address}/24", "dev", f"{host.veth}p"],
                ["link", "set", f"{host.veth}p", "up"],
                ["link", "set", "lo", "up"],
                ["route", "add", "default", "via", net.gateway],
            ):
                subprocess.run([*inside, *args], check=True, capture_output=True, timeout=30)
            net.hosts.append(host)
        yield net
    finally:
        _remove(tag, made)


@dataclass(frozen=True)
class Upstream:
    name: str
    servers: Sequence[str]  # "address:port"


def nginx_site(listen: Sequence[str], public: Upstream, signing: Upstream) -> str:
    """The load balancer: the signing API (``/api/``, ``/csc/``) to the signing hosts, the rest
    to every public host. A host that refuses or times out is skipped for ``fail_timeout`` and
    the request goes to the next one (``proxy_next_upstream``): for reads (OCSP, CRLs, CA
    certificates) also after an HTTP 502/503/504 and for POSTs, which are idempotent there
    (OCSP); a signing POST is passed on only if it was never sent (refused connection), so a
    document is never signed twice behind the client's back — the client retries."""

    def upstream(u: Upstream) -> str:
        servers = "".join(f"  server {s} max_fails=1 fail_timeout=5s;\n" for s in u.servers)
        return f"upstream {u.name} {{\n{servers}  keepalive 16;\n}}\n"

    listens = "".join(f"  listen {a};\n" for a in listen)
    proxy = (
        "    proxy_http_version 1.1;\n"
        '    proxy_set_header Connection "";\n'
        "    proxy_set_header Host $http_host;\n"
        "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "    proxy_set_header X-Forwarded-Proto $scheme;\n"
        "    proxy_connect_timeout 1s;\n"
        "    proxy_read_timeout 120s;\n"
        "    proxy_next_upstream_tries 3;\n"
        "    proxy_next_upstream_timeout 10s;\n"
    )
    return (
        upstream(public)
        + upstream(signing)
        + "server {\n"
        + listens
        + "  merge_slashes off;\n  client_max_body_size 20m;\n"
        + "  location /api/ {\n"
        + proxy
        + "    proxy_next_upstream error timeout;\n"
        + f"    proxy_pass http://{signing.name};\n  }}\n"
        + "  location /csc/ {\n"
        + proxy
        + "    proxy_next_upstream error timeout;\n"
        + f"    proxy_pass http://{signing.name};\n  }}\n"
        + "  location / {\n"
        + proxy
        + "    proxy_next_upstream error timeout http_502 http_503 http_504 non_idempotent;\n"
        + f"    proxy_pass http://{public.name};\n  }}\n"
        + "}\n"
    )


@contextmanager
def nginx(prefix: Path, site: str, check_url: str, timeout: float = 20.0) -> Iterator[Path]:
    """A real nginx (foreground child, everything under ``prefix``) serving ``site``, once
    ``check_url`` answers; stopped after. Yields its access log."""
    prefix.mkdir(parents=True, exist_ok=True)
    temps = " ".join(
        f"{d}_temp_path {prefix / d};" for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    access = prefix / "access.log"
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"worker_processes 1; daemon off; pid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} warn;\nevents {{ worker_connections 1024; }}\n"
        f"http {{ {temps}\n"
        "log_format up '$msec $request_method $uri $status $upstream_addr $upstream_status';\n"
        f"access_log {access} up;\n{site}\n}}\n"
    )
    proc = subprocess.Popen(["nginx", "-p", str(prefix), "-c", str(conf)])
    try:
        wait_http(check_url, timeout=timeout)
        yield access
    finally:
        proc.terminate()
        proc.wait(timeout=20)
