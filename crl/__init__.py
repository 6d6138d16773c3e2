"""CRL service: complete, partitioned and delta CRLs per CA, signed in the HSM, published over
HTTP (``/crl/…``), on a schedule and at once after a status change."""
