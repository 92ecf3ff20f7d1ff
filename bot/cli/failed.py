"""`chorus failed` and `chorus retry [ID]`: messages whose handling raised, kept in the
dead-letter table, listed and handled again.

A retried message that succeeds is marked done and its replies go to the person through
its channel (when that channel is configured, e.g. TELEGRAM_BOT_TOKEN is set); one that
fails again stays kept, with the new error and one more attempt.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

import aiohttp

from bot.channels import build_channels, media
from bot.channels.base import Channel, SendError
from bot.cli.common import services_for, to_json
from bot.config import ConfigError
from bot.services import Services
from handlers.dead_letters import list_failed, retry_failed
from handlers.public import retry_failed_post
from handlers.types import Inbound, Outcome
from storage.records import FailedRecord


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    failed = commands.add_parser(
        "failed",
        parents=[common],
        help="list kept messages whose handling failed",
        description="List the messages whose handling raised: id, channel, when, attempts "
        "and error. Handle them again with `chorus retry [ID]`.",
    )
    failed.add_argument("--all", action="store_true", help="include ones already retried")
    failed.add_argument("--json", action="store_true", help="print JSON instead of a table")
    failed.set_defaults(handler=run_failed)
    retry = commands.add_parser(
        "retry",
        parents=[common],
        help="handle kept failed messages again",
        description="Handle a kept failed message again (all of them without ID) and send "
        "the replies to the person through its channel.",
    )
    retry.add_argument("id", nargs="?", type=int, help="the id shown by `chorus failed`")
    retry.set_defaults(handler=run_retry)


def _table(records: Sequence[FailedRecord]) -> str:
    rows = [("ID", "CHANNEL", "WHEN (UTC)", "ATTEMPTS", "STATUS", "ERROR")]
    for record in records:
        when = f"{record.updated_at:%Y-%m-%d %H:%M:%S}"
        error = record.error if len(record.error) <= 80 else record.error[:77] + "..."
        rows.append(
            (str(record.id), record.channel, when, str(record.attempts), record.status, error)
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]))
    return "\n".join(lines)


async def _failed(args: argparse.Namespace) -> int:
    async with services_for(args.config) as services:
        records = await list_failed(services.engine, include_done=args.all)
    if args.json:
        print(
            to_json(
                [
                    {
                        "id": r.id,
                        "channel": r.channel,
                        "message_id": r.message_id,
                        "created_at": r.created_at,
                        "updated_at": r.updated_at,
                        "attempts": r.attempts,
                        "status": r.status,
                        "error": r.error,
                    }
                    for r in records
                ]
            )
        )
    elif records:
        print(_table(records))
    else:
        print("No failed messages are kept.")
    return 0


def run_failed(args: argparse.Namespace) -> int:
    return asyncio.run(_failed(args))


async def _send(channels: dict[str, Channel], inbound: Inbound, outcome: Outcome) -> str:
    """Deliver a retried message's replies; returns what happened, for the summary."""
    if not outcome.replies:
        return "nothing to send" + (" (already applied)" if outcome.duplicate else "")
    channel = channels.get(inbound.channel)
    if channel is None:
        for reply in outcome.replies:
            print(f"  reply ({inbound.channel} not configured here): {reply.text}")
        return f"{len(outcome.replies)} replies printed, not sent"
    try:
        await channel.deliver(inbound.sender, outcome.replies)
    except (SendError, ConfigError) as error:
        return f"replies not sent ({type(error).__name__}: {error})"
    return f"{len(outcome.replies)} replies sent by {inbound.channel}"


async def _retry(args: argparse.Namespace) -> int:
    async with services_for(args.config) as services, aiohttp.ClientSession() as http:
        if args.id is not None:
            ids = [args.id]
        else:
            ids = [record.id for record in await list_failed(services.engine)]
        if not ids:
            print("No failed messages to retry.")
            return 0
        channels = {channel.name: channel for channel in build_channels(services, http)}
        problems = 0
        try:
            for failed_id in ids:
                if await _is_public_post(services, failed_id):
                    problems += await _retry_post(services, failed_id)
                    continue
                try:
                    result = await retry_failed(services.engine, failed_id)
                except Exception as error:  # kept again with the new error
                    problems += 1
                    print(f"{failed_id}: failed again: {type(error).__name__}: {error}")
                    continue
                if result is None:
                    problems += 1
                    print(f"{failed_id}: no such failed message (see `chorus failed`)")
                    continue
                inbound, outcome = result
                print(f"{failed_id}: done; {await _send(channels, inbound, outcome)}")
        finally:
            for channel in channels.values():
                await channel.stop()
        return 1 if problems else 0


async def _is_public_post(services: Services, failed_id: int) -> bool:
    async with services.store.reader() as unit:
        record = await unit.failed.get(failed_id)
    return record is not None and media().get(record.channel) == "public"


async def _retry_post(services: Services, failed_id: int) -> int:
    """A kept public post is stored again; there is nobody to reply to. Returns 1 on failure."""
    try:
        await retry_failed_post(services.deps, failed_id)
    except Exception as error:  # kept again with the new error
        print(f"{failed_id}: failed again: {type(error).__name__}: {error}")
        return 1
    print(f"{failed_id}: done; the post is stored")
    return 0


def run_retry(args: argparse.Namespace) -> int:
    return asyncio.run(_retry(args))
