"""Everything one running sandbox holds: config, storage, tokens, throttle, faults, counters.

`handle` is the request pipeline every API route goes through, in the order a real gateway
applies it: throttle (409 or 429) -> latency -> injected failure -> the route (auth,
validation). With `log_requests` it prints one line per request on stderr: method, path (no
query, never headers), status, latency in ms, and "throttled" for a throttled answer.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from importer.sandbox.auth import AuthFailure, Tokens, has_role
from importer.sandbox.config import OOOPS_MESSAGE, RUNTIME_FIELDS, SandboxConfig
from importer.sandbox.faults import DroppedResponse, Faults
from importer.sandbox.store import Store
from importer.sandbox.throttle import Throttle

Handler = Callable[[Request, "SandboxState"], Awaitable[Response]]

#: Reason phrase Nexudus sends with its 409 throttle answer.
THROTTLE_REASON = "You must wait before accessing this url again."


class Stats:
    """Counters exposed by GET /sandbox/stats."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        self.requests: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.writes_accepted = 0
        self.throttled = 0
        self.sections_created = 0

    def bump(self, counter: Counter[str], key: str) -> None:
        with self._lock:
            counter[key] += 1

    def add(self, name: str) -> None:
        """Increment one of the plain totals (writes_accepted, throttled, sections_created)."""
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def snapshot(self, sections_stored: int) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self.requests),
                "statuses": dict(self.statuses),
                "writes_accepted": self.writes_accepted,
                "throttled": self.throttled,
                "faults": dict(self.faults),
                "faults_injected": sum(self.faults.values()),
                "sections_created": self.sections_created,
                "sections_stored": sections_stored,
            }


class ThrottledResponse(Response):
    """A throttle answer (so the request log can mark it)."""


def ooops_response(status: int) -> Response:
    """The live generic failure: the mutation envelope with the Ooops text, no Errors."""
    body = {"Message": OOOPS_MESSAGE, "Value": None, "Errors": None, "WasSuccessful": False}
    return JSONResponse(body, status_code=status)


def fault_response(status: int, body: str = "plain") -> Response:
    """What a failing server or its proxy answers: nothing JSON you could rely on."""
    if body == "ooops" and status in (400, 500):
        return ooops_response(status)
    if status == 500:
        return JSONResponse({"Message": "An error has occurred."}, status_code=500)
    if status == 503:
        return PlainTextResponse(
            "Service Unavailable", status_code=503, headers={"Retry-After": "1"}
        )
    text = {502: "Bad Gateway", 504: "Gateway Timeout"}[status]
    return Response(
        f"<html><body><h1>{status} {text}</h1></body></html>", status, media_type="text/html"
    )


class SandboxState:
    """The live sandbox; routes read the config at request time so changes apply at once."""

    def __init__(self, config: SandboxConfig, store: Store) -> None:
        self.config = config
        self.started_with = replace(config)  # what POST /sandbox/reset?config=1 restores
        self.store = store
        self.tokens = Tokens(config)
        self.throttle = Throttle(config)
        self.faults = Faults(config)
        self.stats = Stats()

    def reset(self, *, config: bool = False) -> None:
        """Forget sections, counters, throttle windows and tokens; replay the seed.
        With `config`, every run-time option also goes back to its value at start."""
        if config:
            for name in RUNTIME_FIELDS:
                setattr(self.config, name, getattr(self.started_with, name))
        self.store.clear()
        self.store.reseed()
        self.stats.clear()
        self.throttle.clear()
        self.tokens.clear()
        self.faults.reseed()

    def require(self, request: Request, role: str) -> str:
        """The authenticated user holding `role`, else AuthFailure (-> 401)."""
        user = self.tokens.user_for(request.headers.get("authorization"))
        if not has_role(user, role):
            raise AuthFailure(f"role {role} required")
        return user

    def throttled(self, wait: float) -> Response:
        """The throttle answer the config asks for (409 empty / 429 "Wait N seconds")."""
        config = self.config
        headers = {"Retry-After": str(max(1, math.ceil(wait)))} if config.retry_after_header else {}
        if config.throttle_body == "wait-text":
            seconds = max(0.1, math.ceil(wait * 10) / 10)
            return ThrottledResponse(
                f"Wait {seconds:g} seconds",
                config.throttle_status,
                headers=headers,
                media_type="text/plain",
            )
        return ThrottledResponse(b"", config.throttle_status, headers=headers)

    async def handle(
        self, request: Request, route: str, handler: Handler, *, content: bool
    ) -> Response:
        if not self.config.log_requests:
            return await self._handle(request, route, handler, content=content)
        started = time.perf_counter()
        response = await self._handle(request, route, handler, content=content)
        elapsed = (time.perf_counter() - started) * 1000
        status = "dropped" if isinstance(response, DroppedResponse) else response.status_code
        mark = " throttled" if isinstance(response, ThrottledResponse) else ""
        sys.stderr.write(f"{request.method} {request.url.path} {status} {elapsed:.0f} ms{mark}\n")
        sys.stderr.flush()
        return response

    async def _handle(
        self, request: Request, route: str, handler: Handler, *, content: bool
    ) -> Response:
        method = request.method
        is_write = content and method in ("POST", "PUT", "DELETE")
        stats = self.stats
        stats.bump(stats.requests, f"{method} {route}")
        if self.config.throttle:
            key = self.tokens.identity(request.headers.get("authorization"))
            if key is None:
                key = f"ip:{request.client.host if request.client else 'unknown'}"
            wait = self.throttle.wait(key, is_write)
            if wait is not None:
                stats.add("throttled")
                stats.bump(stats.statuses, str(self.config.throttle_status))
                return self.throttled(wait)
        if is_write:
            stats.add("writes_accepted")
        await self.faults.delay()
        if content:
            failure = self.faults.failure()
            if failure is not None:
                stats.bump(stats.faults, f"fail_{failure}")
                stats.bump(stats.statuses, str(failure))
                return fault_response(failure, self.config.fault_body)
        try:
            response = await handler(request, self)
        except AuthFailure as failure:
            response = JSONResponse(
                {"Message": f"Authorization has been denied for this request: {failure}"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="nexudus"'},
            )
        label = "dropped" if isinstance(response, DroppedResponse) else str(response.status_code)
        stats.bump(stats.statuses, label)
        return response
