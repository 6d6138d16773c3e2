"""Signatures per second through PKCS#11 (SoftHSM2) next to in-process cryptography.

Run: .venv/bin/python bench/hsm_sign_rate.py [--seconds 2]
The in-process software key is the physical ceiling for this machine's CPU; the ratio says what
the token and python-pkcs11 cost. Threads show whether the OS-locking initialisation lets two
cores sign at once.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from hsm import KeySpec, SignScheme
from hsm.pin import PinSource
from hsm.pkcs11_backend import Pkcs11Backend
from hsm.softhsm import init_token, write_softhsm_conf

MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def rate(fn, seconds: float, threads: int = 1) -> float:
    count = [0] * threads
    stop = time.perf_counter() + seconds

    def loop(i: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            fn()
            n += 1
        count[i] = n

    t0 = time.perf_counter()
    ts = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(count) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="psre-bench-"))
    write_softhsm_conf(tmp / "softhsm2.conf", tmp / "tokens")
    pin = secrets.token_hex(8)
    init_token(MODULE, "bench", secrets.token_hex(8), pin)
    backend = Pkcs11Backend(MODULE, "bench", PinSource.literal(pin), pool_size=4)
    msg = secrets.token_bytes(200)
    cases = [
        (KeySpec.EC_P256, SignScheme.ECDSA, "sha256"),
        (KeySpec.EC_P384, SignScheme.ECDSA, "sha384"),
        (KeySpec.RSA_3072, SignScheme.PKCS1V15, "sha256"),
    ]
    cols = ("sw 1 thr", "hsm 1 thr", "hsm 2 thr")
    print(f"{'key':10} " + " ".join(f"{c:>10}" for c in cols) + f" {'hsm/sw':>8} {'2thr/1thr':>9}")
    for spec, scheme, h in cases:
        label = f"bench-{spec.value}"
        backend.generate(label, spec)
        if spec.is_rsa:
            sw = rsa.generate_private_key(65537, spec.rsa_bits)

            def sw_sign(sw=sw) -> None:
                sw.sign(msg, padding.PKCS1v15(), hashes.SHA256())
        else:
            curve = ec.SECP256R1() if spec is KeySpec.EC_P256 else ec.SECP384R1()
            sw = ec.generate_private_key(curve)
            halg = hashes.SHA256() if h == "sha256" else hashes.SHA384()

            def sw_sign(sw=sw, halg=halg) -> None:
                sw.sign(msg, ec.ECDSA(halg))

        def hsm_sign(label=label, scheme=scheme, h=h) -> None:
            backend.sign(label, msg, h, scheme)

        r_sw = rate(sw_sign, args.seconds)
        r_h1 = rate(hsm_sign, args.seconds)
        r_h2 = rate(hsm_sign, args.seconds, threads=2)
        rates = f"{r_sw:10.0f} {r_h1:10.0f} {r_h2:10.0f}"
        print(f"{spec.value:10} {rates} {r_h1 / r_sw:8.2f} {r_h2 / r_h1:9.2f}")
    backend.close()


if __name__ == "__main__":
    main()
