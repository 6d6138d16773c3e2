"""signing_api.asn1_lengths: a definite length ending in 0x80 is not taken for an indefinite
one (asn1crypto 1.5.1 re-encoded such values with force, which made some CMS dumps in the PDF
workers run past their deadline — caught by test_pdf_hostile_http's seal cases)."""

from __future__ import annotations

from asn1crypto import core

from signing_api import asn1_lengths


class _Box(core.Sequence):
    _fields = [("data", core.OctetString)]


def test_definite_length_ending_in_0x80_round_trips_unforced() -> None:
    asn1_lengths.install()
    inner = core.OctetString(b"x" * 380).dump()
    raw = bytes([0x30, 0x82, 0x01, 0x80]) + inner  # 384 bytes: the header ends in 0x80
    box = _Box.load(raw)
    _ = box.native
    assert box.dump() == raw and box.dump(force=True) == raw
    assert box._trailer == b""


def test_indefinite_ber_is_still_re_encoded_as_der() -> None:
    asn1_lengths.install()
    box = _Box.load(bytes.fromhex("308004036162630000"))
    assert box.dump() == bytes.fromhex("30050403616263")
