"""A faithful local fake of the Nexudus course-section API (Starlette + uvicorn + SQLite).

It shares only the API's shape with the importer and imports nothing from `importer.*`
outside this package. See ARCHITECTURE.md, "The sandbox".
"""

from importer.sandbox.config import (
    DEMO_COURSES,
    DEMO_TOTP,
    DEMO_USERS,
    LIVE_PROFILE,
    PROFILE_FIELDS,
    PROFILES,
    DemoUser,
    SandboxConfig,
)
from importer.sandbox.profiles import (
    apply_profile,
    profile_dict,
    read_profile_file,
    write_profile_file,
)
from importer.sandbox.server import SandboxServer, serve

__all__ = [
    "DEMO_COURSES",
    "DEMO_TOTP",
    "DEMO_USERS",
    "LIVE_PROFILE",
    "PROFILES",
    "PROFILE_FIELDS",
    "DemoUser",
    "SandboxConfig",
    "SandboxServer",
    "apply_profile",
    "profile_dict",
    "read_profile_file",
    "serve",
    "write_profile_file",
]
