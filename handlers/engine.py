"""The engine: messages in, replies out, applied in grouped commits.

Every channel calls `Engine.handle`. Before the message queues, its text is checked,
the sender becomes a pseudonym and the text is enriched (redaction, language, sentiment,
moderation) in a worker thread, so the writer never waits on it. One writer task then
takes every message waiting (up to `BATCH_LIMIT`) and hands the batch to the store in
one hop (storage/batch.py): each person's snapshot is loaded, the flows decide in pure
Python (handlers/conversation.py), and all the effects are applied in ONE transaction, a
savepoint per message, committed once. Only then does each caller get its outcome, so a
webhook answers 200 after the commit (and 503 when the commit fails).

Team commands keep their own transaction (handlers/team/desk.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from handlers.catalogue import Catalogue
from handlers.commands import parse_command
from handlers.conflicts import retrying_conflicts
from handlers.conversation import Conversation, Pending
from handlers.dead_letters import forget_kept_messages, sent_by
from handlers.deps import Deps, utc_now
from handlers.enrich import Enricher, Enrichment, clean_text
from handlers.enrichment_batches import EnrichmentBatches
from handlers.limits import MessageRate, message_limit_reply, shared_message_counts
from handlers.look_ahead import BatchDecisions
from handlers.privacy import ContactCipher, Pseudonymizer
from handlers.public import Checkpoint, IngestResult, ingest_posts
from handlers.replay import ReplayKeeper
from handlers.settings import ConsultationConfig
from handlers.team.desk import TeamDesk
from handlers.types import Inbound, Outcome, PublicPost, Reply
from handlers.warming import Warming
from storage.batch import Batch, run_pipeline
from storage.batch_types import Applied, Message, Replays
from storage.database import Store
from storage.effects import NEW_NUMBER, Decision, Erase
from storage.errors import StoreConflict

if TYPE_CHECKING:
    from handlers.enrichment_process import EnrichmentProcess
    from storage.unit import Unit

log = logging.getLogger(__name__)

BATCH_LIMIT = 64


def words_to_enrich(inbound: Inbound, text: str) -> str | None:
    """What a message may store as someone's words, enriched before it queues: its text,
    or a command's argument ("IDEA ..."); None for a button, a number or a bare command
    (answers, not words to keep). Anything else a flow wants enriched (a kept draft) is
    enriched when it asks, which is rare."""
    if inbound.payload is not None:
        return None
    answer = text.strip().rstrip(".!?")
    if not answer or answer.isdigit():
        return None
    command = parse_command(text)
    if command is None:
        return text
    return command.argument or None


__all__ = ["Engine", "utc_now", "BATCH_LIMIT"]


@dataclass(eq=False)
class _Waiting:
    pending: Pending
    future: asyncio.Future  # the outcome, set once the batch has committed
    enriching: asyncio.Future | None = None  # the text's enrichment, while it runs

    def ready(self) -> bool:
        return self.enriching is None or self.enriching.done()


class Engine:
    """Queues messages for the one writer task. Holds only its dependencies."""

    def __init__(
        self,
        store: Store,
        config: ConsultationConfig,
        *,
        enricher: Enricher | EnrichmentProcess,
        pseudonyms: Pseudonymizer,
        contacts: ContactCipher,
        clock: Callable[[], datetime] = utc_now,
        rng: random.Random | None = None,
        warming: Warming | None = None,
        channel_media: Mapping[str, str] | None = None,
    ) -> None:
        self.deps = Deps(
            store=store,
            config=config,
            enricher=enricher,
            pseudonyms=pseudonyms,
            contacts=contacts,
            clock=clock,
            rng=rng or random.Random(),
            channel_media=dict(channel_media or {}),
        )
        self.warming = warming or Warming.ready()
        self.team = TeamDesk(self.deps)
        self._conversation = Conversation(self.deps)
        self._queue: list[_Waiting] = []
        self._writer: asyncio.Task | None = None
        self._enrichments = EnrichmentBatches(lambda: self.deps.enricher)
        # Called with each batch's size (metrics).
        self.on_batch: list[Callable[[int], None]] = []
        # issue 16: messages per minute per person (this worker's memory, then the store
        # across workers), and the replies kept to answer a resent message the same way.
        self.message_rate = MessageRate(config.limits.messages_per_minute)
        self.message_counts = shared_message_counts(config.limits)
        self.replay = ReplayKeeper(contacts, config.limits.replay_hours)

    # The dependencies by name, for callers that need one of them.
    store = property(lambda self: self.deps.store)
    config = property(lambda self: self.deps.config)
    enricher = property(lambda self: self.deps.enricher)
    pseudonyms = property(lambda self: self.deps.pseudonyms)
    contacts = property(lambda self: self.deps.contacts)
    clock = property(lambda self: self.deps.clock)
    rng = property(lambda self: self.deps.rng)
    question_ids = property(lambda self: self.deps.question_ids)
    # Each question's alike index (warmed after the server listens: bot/services.py).
    likeness = property(lambda self: self._conversation.likeness)

    async def prepare(self) -> None:
        await self.deps.prepare()

    def replace_deps(self, **changes: Any) -> None:
        """Swap some dependencies (a test's other settings or a failing enricher): a new
        frozen set, handed to everything the engine built from the old one."""
        self.deps = replace(self.deps, **changes)
        self.team.deps = self.deps
        self._conversation = Conversation(self.deps)
        limits = self.deps.config.limits
        if "config" in changes:
            self.message_rate = MessageRate(limits.messages_per_minute)
            self.message_counts = shared_message_counts(limits)
            self.replay = ReplayKeeper(self.deps.contacts, limits.replay_hours)

    def pseudonym(self, channel: str, platform_id: str) -> str:
        return self.deps.pseudonym(channel, platform_id)

    async def handle(self, inbound: Inbound) -> Outcome:
        """Apply one message. Raises StoreUnavailable when the store cannot commit."""
        await self.deps.ready()
        text = clean_text(inbound.text)
        team_request = self.team.recognise(inbound, text)
        if team_request is not None:
            # The consultation team's commands: no participant row, same de-duplication.
            return await retrying_conflicts(
                lambda: self.team.handle(team_request, inbound, self.deps.clock()),
                what=f"{inbound.channel} team command",
                rng=self.deps.rng,
            )
        pseudonym = self.deps.pseudonym(inbound.channel, inbound.sender)
        rate = self.message_rate.check(pseudonym)
        if rate != "ok":  # a flood: one polite reply, then none, and nothing stored
            return Outcome((message_limit_reply(),) if rate == "tell" else ())
        pending = Pending(inbound=inbound, text=text, pseudonym=pseudonym, now=self.deps.clock())
        loop = asyncio.get_running_loop()
        # Queued at once, in arrival order; its text is enriched meanwhile.
        words = words_to_enrich(inbound, text)
        if words is not None and len(words) <= self.deps.config.consultation.max_text_length:
            pending = replace(pending, enriched_text=words)
            enriching = asyncio.ensure_future(self._enrich(words))
        else:
            enriching = None
        waiting = _Waiting(pending, loop.create_future(), enriching)
        self._queue.append(waiting)
        self._wake_writer()
        return await asyncio.shield(waiting.future)

    @property
    def queue_depth(self) -> int:
        """Messages waiting for the writer (a figure for /metrics)."""
        return len(self._queue)

    def _wake_writer(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="chorus-writer")

    async def _enrich(self, text: str) -> Enrichment:
        await self.warming.wait()  # models still loading: this message waits for them
        return await self._enrichments.enrich(text)

    def _take_batch(self) -> list[_Waiting]:
        """Up to BATCH_LIMIT waiting messages whose enrichment is done, in arrival order;
        a person's later messages stay behind an earlier one that is not ready."""
        batch: list[_Waiting] = []
        held: list[_Waiting] = []
        behind: set[str] = set()
        for waiting in self._queue:
            person = waiting.pending.pseudonym
            if len(batch) < BATCH_LIMIT and person not in behind and waiting.ready():
                batch.append(waiting)
            else:
                behind.add(person)
                held.append(waiting)
        self._queue = held
        return batch

    async def _write(self) -> None:
        """The one writer: batch after batch until nothing waits."""
        while self._queue:
            batch = self._take_batch()
            if not batch:  # every waiting message is still being enriched
                enriching = {w.enriching for w in self._queue if w.enriching and not w.ready()}
                await asyncio.wait(enriching, return_when=asyncio.FIRST_COMPLETED)
                continue
            failed = {w: w.enriching.exception() for w in batch if w.enriching}
            for waiting, error in failed.items():  # enrichment raised: it fails alone
                if error is not None:
                    waiting.future.set_exception(error)
            batch = [w for w in batch if failed.get(w) is None]
            if not batch:
                continue
            for waiting in batch:
                if waiting.enriching is not None:
                    waiting.pending = replace(
                        waiting.pending, enrichment=waiting.enriching.result()
                    )
            for observe in self.on_batch:
                observe(len(batch))
            try:
                results = await retrying_conflicts(
                    partial(self._apply, batch),
                    what=f"a batch of {len(batch)} messages",
                    rng=self.deps.rng,
                )
            except BaseException as error:  # nothing of the batch was committed
                for waiting in batch:
                    if not waiting.future.done():
                        waiting.future.set_exception(error)
                if isinstance(error, asyncio.CancelledError):
                    raise
                continue
            for waiting, result in zip(batch, results, strict=True):
                if waiting.future.done():
                    continue
                if isinstance(result, BaseException):
                    waiting.future.set_exception(result)
                else:
                    waiting.future.set_result(self._outcome(result))

    async def _apply(self, batch: Sequence[_Waiting]) -> list[Applied | BaseException]:
        pendings = [waiting.pending for waiting in batch]
        messages = [
            Message(p.inbound.channel, p.inbound.message_id, p.pseudonym, p.now) for p in pendings
        ]
        decisions = BatchDecisions(self._conversation, pendings)
        replays = Replays(
            encode=self._encode_replies,
            window=self.replay.window,
            drop_before=self.replay.drop_before(max(p.now for p in pendings)),
        )

        work = Batch(
            messages=messages,
            decide=decisions.decide,
            look_ahead=decisions.look_ahead,
            backend=self.deps.store.backend,
            grouping=self.deps.store.grouping,
            on_erase=self._erase,
            replays=replays,
            counts=self.message_counts,
        )
        results = await self.deps.store.run_batch(partial(run_pipeline, batch=work))
        for result in results:
            if isinstance(result, StoreConflict):
                raise result  # a lost race inside the batch: the whole batch again
        return results

    def _encode_replies(self, decision: Decision, new_number: int | None) -> str:
        """The replies as sent, kept (encrypted) with the processed id for a replay."""
        return self.replay.encode(_numbered(decision.replies, new_number))

    def _outcome(self, applied: Applied) -> Outcome:
        if applied.duplicate:  # the same replies as the first time, if still kept
            return Outcome(self.replay.decode(applied.kept_replies), duplicate=True)
        decision = applied.decision
        assert decision is not None
        replies = _numbered(decision.replies, applied.new_number)
        return Outcome(replies, opted_out=decision.opted_out)

    async def _erase(self, unit: Unit, person_id: int | None, effect: Erase) -> None:
        """FORGET: the person, everything they contributed and every row that links to
        them, including messages of theirs kept after failing."""
        if person_id is not None:
            await unit.participants.erase(person_id)
        await forget_kept_messages(unit, self.deps.contacts, sent_by(effect.channel, effect.sender))

    async def set_reachable(self, channel: str, sender: str, reachable: bool) -> bool:
        """Mark a person unreachable (e.g. they blocked the bot) or reachable again.
        Returns False when there is no such participant or nothing changed."""
        pseudonym = self.deps.pseudonym(channel, sender)
        async with self.deps.store.transaction() as unit:
            participant = await unit.participants.find(pseudonym)
            if participant is None or participant.unreachable is (not reachable):
                return False
            await unit.participants.update(participant.id, unreachable=not reachable)
            return True

    async def keep_for_later(
        self,
        channel: str,
        sender: str,
        text: str,
        *,
        due: datetime | None = None,
        replacing: int | None = None,
    ) -> int | None:
        """Put replies not sent yet (the provider is down) in the outbox, which sends them
        to `sender` once the provider answers, after a line saying they come late; `due`:
        not before then (default: now); `replacing`: the copy kept before, removed in the
        same transaction. The new message's id, or None when there is no such participant
        (no row before consent) or they opted out."""
        pseudonym = self.deps.pseudonym(channel, sender)
        async with self.deps.store.transaction() as unit:
            if replacing is not None:
                await unit.outbox.drop_queued(replacing)
            participant = await unit.participants.find(pseudonym)
            if participant is None or participant.opted_out:
                return None
            late = Catalogue(participant.language).text("replies_late")
            address = self.deps.contacts.encrypt(sender)
            now = self.deps.clock()
            return await unit.outbox.enqueue(
                participant.id,
                channel,
                f"{late}\n\n{text}",
                now,
                address_encrypted=address,
                due=due,
            )

    async def drop_kept(self, outbox_id: int) -> None:
        """Remove a copy `keep_for_later` kept, its replies sent after all."""
        async with self.deps.store.transaction() as unit:
            await unit.outbox.drop_queued(outbox_id)

    async def claim_once(self, channel: str, message_id: str) -> bool:
        """Record a message the channel answers without the conversation (a sticker, say),
        so a replay is not answered twice. False when it was already recorded."""
        async with self.deps.store.transaction() as unit:
            return await unit.processed.claim(channel, message_id, self.deps.clock())

    async def ingest_public(
        self, posts: Sequence[PublicPost], *, checkpoint: Checkpoint | None = None
    ) -> IngestResult:
        """Store public posts (ideas, comments, endorsements; no replies are sent) and move
        the listener's checkpoint in the same transaction; see handlers/public.py."""
        return await ingest_posts(self.deps, posts, checkpoint=checkpoint)

    async def close(self) -> None:
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)


def _numbered(replies: tuple[Reply, ...], new_number: int | None) -> tuple[Reply, ...]:
    """The replies with a new contribution's number put in for its placeholder."""
    if new_number is None:
        return replies
    number = str(new_number)
    return tuple(
        replace(r, text=r.text.replace(NEW_NUMBER, number)) if NEW_NUMBER in r.text else r
        for r in replies
    )
