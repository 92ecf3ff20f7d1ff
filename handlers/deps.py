"""Everything the handlers need, as one explicit frozen set (no global or hidden app
object): the store, the consultation's settings, the enricher, pseudonyms and the
contact cipher, the clock and the random source. A test builds a fresh set each time.

`question_ids` (question key -> id in the store) is filled once by `prepare`, which
brings the configured questions into the store at start. `channel_media` holds each
declared channel's medium by name (bot/channels/kit.py): the handlers key behaviour on a
medium, never on a channel's name.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from handlers.enrich import Enricher
from handlers.insights.grouping import role_grouping
from handlers.privacy import ContactCipher, Pseudonymizer
from handlers.settings import ConsultationConfig
from storage.database import Store

if TYPE_CHECKING:
    from handlers.enrichment_process import EnrichmentProcess


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Deps:
    store: Store
    config: ConsultationConfig
    enricher: Enricher | EnrichmentProcess  # the latter: the models in another process
    pseudonyms: Pseudonymizer
    contacts: ContactCipher
    clock: Callable[[], datetime] = utc_now
    rng: random.Random = field(default_factory=random.Random)
    question_ids: dict[str, int] = field(default_factory=dict)
    channel_media: Mapping[str, str] = field(default_factory=dict)

    @property
    def public_channels(self) -> tuple[str, ...]:
        """The channels declared with the public medium: people take part there by
        posting, without a consent step."""
        return tuple(sorted(n for n, medium in self.channel_media.items() if medium == "public"))

    def pseudonym(self, channel: str, platform_id: str) -> str:
        return self.pseudonyms.pseudonym(channel, platform_id)

    def public_post_key(self, channel: str, post_id: str) -> str:
        """What marks a public post as seen (processed_messages): a keyed hash, because a
        public post's id leads anyone to its author, and the mark outlives an erasure (so
        a backfill cannot bring back what was erased)."""
        return "#" + self.pseudonyms.pseudonym(f"{channel}-post", post_id)[:40]

    async def prepare(self) -> None:
        """Bring the configured questions and role groups into the store; call once at
        start. Idea consensus is recomputed if the role groups changed."""
        self.store.grouping = role_grouping(self.config)
        async with self.store.transaction() as unit:
            ids = await unit.questions.sync(
                (q.key, q.text, q.opens_at, q.closes_at) for q in self.config.questions
            )
            await unit.insights.ensure_grouping(self.clock())
        self.question_ids.clear()
        self.question_ids.update(ids)

    async def ready(self) -> None:
        if not self.question_ids:
            await self.prepare()
