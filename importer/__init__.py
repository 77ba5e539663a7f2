"""course-sections-importer: spreadsheets of course sections into Nexudus, exactly once.

The public API, for notebooks and scripts, is `__all__` (a test guards it):

    from importer import JobSettings, read_sheet, run_job, validate_file

Names are loaded on first use, so `import importer` stays cheap and the CLI starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it (one place; `__all__` is built from it).
_PUBLIC: dict[str, str] = {
    # read and validate
    "read_sheet": "importer.read",
    "Sheet": "importer.read",
    "validate_file": "importer.validate",
    "validate_sheet": "importer.validate",
    "ValidationResult": "importer.validate",
    # run a job
    "JobSettings": "importer.engine.settings",
    "TargetSettings": "importer.engine.settings",
    "PacingSettings": "importer.engine.settings",
    "SendPolicy": "importer.engine.settings",
    "RetrySettings": "importer.engine.settings",
    "Credentials": "importer.credentials",
    "run_job": "importer.engine.job",
    "JobResult": "importer.engine.job",
    "ProgressEvent": "importer.engine.progress",
    "WriteBudget": "importer.engine.budget",
    "ExitCode": "importer.codes",
    "RowStatus": "importer.codes",
    # export and undo
    "export_frame": "importer.export",
    "read_target": "importer.undo",
    "undo_run": "importer.undo",
    "UndoResult": "importer.undo",
    # errors
    "ImporterError": "importer.errors",
    "InputError": "importer.errors",
    "ConfigError": "importer.errors",
    "LockedError": "importer.errors",
    "ApiError": "importer.errors",
    "AuthError": "importer.errors",
    # the built-in sandbox (needs the 'sandbox' extra)
    "running_sandbox": "importer.local_sandbox",
}

#: The public API (tests/test_public_api.py checks it against _PUBLIC).
__all__ = [
    "__version__",
    "read_sheet",
    "Sheet",
    "validate_file",
    "validate_sheet",
    "ValidationResult",
    "JobSettings",
    "TargetSettings",
    "PacingSettings",
    "SendPolicy",
    "RetrySettings",
    "Credentials",
    "run_job",
    "JobResult",
    "ProgressEvent",
    "WriteBudget",
    "ExitCode",
    "RowStatus",
    "export_frame",
    "read_target",
    "undo_run",
    "UndoResult",
    "ImporterError",
    "InputError",
    "ConfigError",
    "LockedError",
    "ApiError",
    "AuthError",
    "running_sandbox",
]

if TYPE_CHECKING:
    from importer.codes import ExitCode, RowStatus
    from importer.credentials import Credentials
    from importer.engine.budget import WriteBudget
    from importer.engine.job import JobResult, run_job
    from importer.engine.progress import ProgressEvent
    from importer.engine.settings import (
        JobSettings,
        PacingSettings,
        RetrySettings,
        SendPolicy,
        TargetSettings,
    )
    from importer.errors import (
        ApiError,
        AuthError,
        ConfigError,
        ImporterError,
        InputError,
        LockedError,
    )
    from importer.export import export_frame
    from importer.local_sandbox import running_sandbox
    from importer.read import Sheet, read_sheet
    from importer.undo import UndoResult, read_target, undo_run
    from importer.validate import ValidationResult, validate_file, validate_sheet


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'importer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
