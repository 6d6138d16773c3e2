"""What the PDF fork server (signing_api.pdf_pool) imports first.

The fork server is a fresh interpreter, not a fork of the web process, so the warning filter of
psre's entry points is not in it: install it, then load the job code (and with it pyHanko), so
no child prints dependency notices on a command's screen.
"""

from __future__ import annotations

import importlib

from ca_core.quiet import silence_dependency_warnings

silence_dependency_warnings()
importlib.import_module("signing_api.pdf_jobs")
