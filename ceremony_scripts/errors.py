"""Errors of the key ceremonies. Messages name files, steps, labels and shares, never secrets.

``CeremonyError`` derives from ``ca_core.errors.CaError`` so that the ``psre`` command line
prints it as a one-line ``psre: error: …`` with exit status 2, like every other refusal.
"""

from __future__ import annotations

from ca_core.errors import CaError


class CeremonyError(CaError):
    """Base of every error raised by ceremony_scripts/."""

    code = "ceremony_error"


class CeremonyFileError(CeremonyError):
    """The ceremony file is invalid; the message names the file and the key path."""

    code = "ceremony_file_invalid"

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class PreflightError(CeremonyError):
    """A real run was refused before anything was touched (existing output, label, CA…)."""

    code = "ceremony_refused"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("ceremony refused, nothing was touched:\n  - " + "\n  - ".join(problems))
        self.problems = problems


class ShareError(CeremonyError):
    """Custodian shares that cannot rebuild the secret: too few, corrupted or foreign."""

    code = "ceremony_share_refused"


class StepFailed(CeremonyError):
    """A step failed after the ceremony started; the transcript says where it stopped."""

    code = "ceremony_step_failed"

    def __init__(self, step: int, stage: str, reason: str) -> None:
        super().__init__(f"step {step} failed during {stage}: {reason}")
        self.step = step
        self.stage = stage
        self.reason = reason
