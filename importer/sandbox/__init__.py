"""A faithful local fake of the Nexudus course-section API (Starlette + uvicorn + SQLite).

It shares only the API's shape with the importer and imports nothing from `importer.*`
outside this package. See ARCHITECTURE.md, "The sandbox".
"""

from importer.sandbox.config import DEMO_COURSES, DEMO_USERS, DemoUser, SandboxConfig
from importer.sandbox.server import SandboxServer, serve

__all__ = ["DEMO_COURSES", "DEMO_USERS", "DemoUser", "SandboxConfig", "SandboxServer", "serve"]
