"""Settings to a connected client, written once: its pacer, its retry policy, its timeouts.

Every command that talks to the API (import, plan, batch, undo, export, doctor) opens its
client here, so an option such as request_tries or read_timeout means the same in all of them.
"""

from __future__ import annotations

from typing import NamedTuple

from importer.client import Credentials, NexudusClient
from importer.engine.settings import JobSettings
from importer.pacing import Pacer
from importer.retry import RetryPolicy


class Connection(NamedTuple):
    client: NexudusClient  # a context manager: `with connection.client as client:`
    pacer: Pacer
    policy: RetryPolicy


def connect(settings: JobSettings, credentials: Credentials | None = None) -> Connection:
    """A client for `settings`' API (credentials: given, the settings', else the
    environment's), paced and retried as the settings say."""
    pacer = Pacer.from_settings(settings.pacing)
    sleep = settings.sleep if settings.sleep is not None else pacer.sleep
    policy = RetryPolicy.from_settings(settings.retry, sleep=sleep)
    client = NexudusClient(
        settings.target.api_url,
        credentials or settings.credentials or Credentials.from_env(),
        pacer=pacer,
        timeout=settings.target.timeout(),
        read_policy=policy,
    )
    return Connection(client, pacer, policy)
