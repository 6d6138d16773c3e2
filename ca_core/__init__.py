"""psre CA core: configuration, store, audit log, issuance."""

__version__ = "0.1.0"
