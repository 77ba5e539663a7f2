"""Run the sandbox with uvicorn: in a background thread (tests, notebooks) or in the
foreground (the `sections sandbox` command)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import uvicorn
from uvicorn.protocols.http import h11_impl

from importer.sandbox.app import build_app
from importer.sandbox.config import SandboxConfig, check_config
from importer.sandbox.faults import quiet_deliberate_drops
from importer.sandbox.state import THROTTLE_REASON
from importer.sandbox.store import Store

STARTUP_TIMEOUT = 10.0


def _use_nexudus_reason_phrase() -> None:
    # ASGI cannot set a reason phrase; Nexudus sends a custom one with its 409, so the
    # sandbox pins it in uvicorn's h11 table (the only uvicorn in this process is ours).
    h11_impl.STATUS_PHRASES[409] = THROTTLE_REASON.encode()


def _open_store(config: SandboxConfig) -> tuple[Store, Path | None]:
    """The store, plus the temporary file to delete on stop (None if the user chose one)."""
    if config.db_path is not None:
        path = Path(config.db_path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return Store(path, config), None
        except (OSError, sqlite3.Error) as error:
            # A folder, an unwritable place or some other file: one line, not a traceback.
            raise ValueError(f"cannot use {path} as the sandbox database: {error}") from None
    handle, name = tempfile.mkstemp(prefix="nexudus-sandbox-", suffix=".sqlite3")
    os.close(handle)
    return Store(Path(name), config), Path(name)


def _uvicorn_config(config: SandboxConfig, store: Store) -> uvicorn.Config:
    _use_nexudus_reason_phrase()
    quiet_deliberate_drops()
    return uvicorn.Config(
        build_app(config, store),
        host=config.host,
        port=config.port,
        http="h11",
        ws="none",
        lifespan="off",
        log_level="warning",
        access_log=False,
    )


class SandboxServer:
    """A sandbox on a background thread. Use as a context manager or call start()/stop()."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        check_config(self.config)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._store: Store | None = None
        self._temp: Path | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321 (the real port, even for port 0)."""
        return f"http://{self.config.host}:{self.port}"

    @property
    def control_url(self) -> str:
        return f"{self.url}/sandbox"

    def start(self) -> SandboxServer:
        if self._server is not None:
            return self
        self._store, self._temp = _open_store(self.config)
        server = uvicorn.Server(_uvicorn_config(self.config, self._store))
        self._server = server
        self._thread = threading.Thread(
            target=_run_quietly, args=(server,), name="nexudus-sandbox", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"sandbox could not listen on {self.config.host}:{self.config.port}"
                )
            time.sleep(0.01)
        self.port = _bound_port(server)
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=10)
        if self._store is not None:
            self._store.close()
        if self._temp is not None:
            with contextlib.suppress(OSError):
                self._temp.unlink()
        self._server = self._thread = self._store = self._temp = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def _run_quietly(server: uvicorn.Server) -> None:
    # uvicorn calls sys.exit() when it cannot bind; start() reports that as RuntimeError.
    with contextlib.suppress(SystemExit):
        asyncio.run(server.serve())


def _bound_port(server: uvicorn.Server) -> int:
    for listener in server.servers:
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    raise RuntimeError("sandbox started without a listening socket")


def _check_bindable(host: str, port: int) -> None:
    """Fail with one clear sentence (OSError) before uvicorn would log a bind error."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise OSError(f"cannot listen on {host}:{port}: {error.strerror}") from None


def serve(config: SandboxConfig, on_ready: Callable[[str], None] | None = None) -> None:
    """Run in the foreground until Ctrl-C / SIGTERM; `on_ready(url)` once it listens.

    Returns normally after Ctrl-C or SIGTERM (uvicorn shuts down gracefully first).
    Raises ValueError for bad settings and OSError when the address is not available.
    """
    check_config(config)
    _check_bindable(config.host, config.port)
    if threading.current_thread() is threading.main_thread():
        # uvicorn re-raises the captured signal after its graceful shutdown; make SIGTERM
        # end up as KeyboardInterrupt too, so both stop the same clean way.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    store, temp = _open_store(config)
    server = uvicorn.Server(_uvicorn_config(config, store))

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                with contextlib.suppress(SystemExit):
                    await task
                raise OSError(f"cannot listen on {config.host}:{config.port}")
            await asyncio.sleep(0.01)
        if on_ready is not None:
            on_ready(f"http://{config.host}:{_bound_port(server)}")
        await task

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
        if temp is not None:
            with contextlib.suppress(OSError):
                temp.unlink()
