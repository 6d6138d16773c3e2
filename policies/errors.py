"""Exception hierarchy of policies/. Messages name files, keys and fields, never key material."""

from __future__ import annotations


class PolicyError(Exception):
    """Base of every error raised by policies/."""

    #: A short machine-readable code (used by the CLI and the HTTP layer).
    code: str = "policy_error"


class RoleError(PolicyError):
    """No profile, or more than one, where the code needs exactly one for a role."""

    code = "profile_role"


class ProfileError(PolicyError):
    """A profile file is invalid: ``str()`` is ``<file>: <key path>: <reason>``."""

    code = "profile_invalid"

    def __init__(self, file: str, key: str, reason: str) -> None:
        super().__init__(f"{file}: {key}: {reason}")
        self.file = file
        self.key = key
        self.reason = reason


class SubjectError(PolicyError):
    """A requested subject name or SAN email breaks its profile.

    ``field`` names what was refused (``subject.serialNumber``, ``san.email``).
    """

    code = "subject_refused"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class ExtensionError(PolicyError):
    """Extensions cannot be built for this request (key type not allowed, missing issuer key…).

    ``field`` names the offending argument (``public_key``, ``issuer_name``…).
    """

    code = "extension_refused"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
