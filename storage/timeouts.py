"""How long Chorus waits for its store, in one place: connecting, each statement, a free
connection from the pool, and the /healthz probe.

A database that stops answering (a network partition, a hung host) must never hold a
webhook past the provider's patience: every wait below ends in `StoreUnavailable`, and
the webhook answers 503 so the provider tries again later.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StoreTimeouts:
    # Opening a connection (PostgreSQL: TCP, TLS and authentication together).
    connect_seconds: float = 3.0
    # One statement's round trip (PostgreSQL: asyncpg's command timeout). Generous, so a
    # long report query is not cut; webhooks are bounded by `webhook_seconds` anyway.
    statement_seconds: float = 15.0
    # Waiting for a free pooled connection when every one is busy.
    pool_seconds: float = 3.0
    # Everything a webhook waits for the store before answering 503 (under the 5 s the
    # issue allows and Twilio's 15 s).
    webhook_seconds: float = 4.0
    # The /healthz probe, on its own connection so it never queues behind writers.
    health_seconds: float = 0.8
