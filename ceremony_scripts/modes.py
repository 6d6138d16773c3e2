"""How a ceremony ran, as its transcript records it (kept apart from the runner so that the CLI's
help text can name them without importing the runner)."""

from __future__ import annotations

#: No prompts, no witnesses' acknowledgements: marked so in the transcript.
UNATTENDED = "UNATTENDED (test mode)"
#: On a scratch SoftHSM token; nothing real is written.
DRY_RUN = "DRY RUN (scratch token)"
