"""Public posts (a hashtag on X) into the store: what each post means, applied once.

- An original post is an idea for the configured question, enriched like any message,
  with social=True: hashtags, @mentions and links stay in the stored text but are left
  out of language detection and sentiment.
- A repost (retweet) is not a new idea: it is an agree vote by the reposter on the
  original, when the original is stored (on the idea it was merged into, if the team
  merged it). A classic "RT @user: text" that names no original is matched to the
  stored original by its text. A repost of a stored comment is no vote (`ignored`).
- A reply or a quote of a stored post is a comment on it (on its idea, when the stored
  post is itself a comment, or on the surviving idea of a merge); so is a reply deeper
  in a thread whose first post is stored.
- The author is a pseudonym (keyed hash of the platform's author id, like any platform
  id); no handle or name is kept. Public posts need no consent step.

When the original is not stored (yet):
- if the payload carries it (X's "includes") and it carries one of the consultation's
  hashtags, it is stored first, as an idea of its own author, and the repost or reply is
  then applied to it;
- otherwise a reply or quote is an idea in its own right (it carries the hashtag, and its
  words are not lost), and a repost is counted as `unmatched` and marked as seen: there
  is no idea to endorse, and a copy of someone else's words is not a new idea.
A repost of one's own post is not a vote (`ignored`), nor is one whose payload names no
author (one vote per person cannot be kept for someone unknown; posts without an author
id are kept as ideas of one "unknown author" participant), nor is a post with no text.

Every post id is claimed once per channel (processed_messages, as a keyed hash: a post id
leads to its author), so a post seen twice (from the stream and from a backfill, or after
a restart) is applied once, and a post whose author was erased is not taken in again. A batch and
the listener's checkpoint are written in ONE transaction, so the checkpoint never runs
ahead of what is stored.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime

from handlers.conflicts import retrying_conflicts
from handlers.deps import Deps
from handlers.enrich import Enrichment, clean_text
from handlers.types import PublicPost
from storage.records import ContributionRecord, NewContribution, ParticipantRecord, Profile
from storage.unit import Unit
from storage.votes import AGREE

log = logging.getLogger(__name__)

# Pseudonym source for posts whose payload names no author (e.g. only id and text).
UNKNOWN_AUTHOR = "unknown-author"
# X handles are 1 to 15 letters, digits or underscores.
_CLASSIC_RETWEET = re.compile(r"RT @[A-Za-z0-9_]{1,15}: ?")
_TRUNCATED = ("\u2026", "...")
# A cut-short copy must keep this much of the original to be matched by its start.
MIN_PREFIX = 20


@dataclass(frozen=True)
class Checkpoint:
    """A listener's position to move with a batch, e.g. ("x.newest_id", "1790...")."""

    name: str
    value: str


@dataclass
class IngestResult:
    ideas: int = 0
    comments: int = 0
    endorsements: int = 0
    duplicates: int = 0  # already applied, from an earlier batch or a replay
    unmatched: int = 0  # reposts of an original that is not stored
    ignored: int = 0  # reposts of one's own post, posts with no text
    contribution_ids: list[int] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return self.ideas + self.comments

    def add(self, other: IngestResult) -> None:
        for name in ("ideas", "comments", "endorsements", "duplicates", "unmatched", "ignored"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.contribution_ids += other.contribution_ids


def id_order(post_id: str) -> tuple[int, str]:
    """Sort key putting decimal ids (X's are) in numeric order, so originals, which are
    older, come before the reposts and replies that refer to them."""
    return (len(post_id), post_id) if post_id.isdigit() else (0, post_id)


def newest_id(ids: Sequence[str]) -> str | None:
    numeric = [i for i in ids if i.isdigit()]
    return max(numeric, key=id_order) if numeric else None


def classic_retweet_body(text: str) -> str | None:
    """The copied words of an old-style "RT @user: words" post, or None."""
    match = _CLASSIC_RETWEET.match(text.lstrip())
    return text.lstrip()[match.end() :] if match else None


def carries_hashtag(text: str, hashtags: Sequence[str]) -> bool:
    return any(
        re.search(rf"(?<![\w#]){re.escape(tag)}(?!\w)", text, re.IGNORECASE) for tag in hashtags
    )


async def ingest_posts(
    deps: Deps, posts: Sequence[PublicPost], *, checkpoint: Checkpoint | None = None
) -> IngestResult:
    """Apply a batch of posts and move `checkpoint` in one transaction. Raises
    StoreUnavailable when the store cannot commit; then nothing is stored or moved."""
    await deps.ready()
    enrichments = _enrich_all(deps, posts)
    return await retrying_conflicts(
        lambda: _apply(deps, posts, enrichments, checkpoint),
        what=f"a batch of {len(posts)} public posts",
        rng=deps.rng,
    )


def _enrich_all(deps: Deps, posts: Sequence[PublicPost]) -> dict[str, Enrichment]:
    """Enrich texts before the transaction opens, so it holds the store only briefly."""
    found: dict[str, Enrichment] = {}
    everything = [*posts, *(ref for post in posts for ref in post.referenced)]
    for item in everything:
        if item.post_id in found or item.reposted_id is not None:
            continue
        words = classic_retweet_body(item.text)
        found[item.post_id] = deps.enricher.enrich(
            item.text if words is None else words, social=True
        )
    return found


async def _apply(
    deps: Deps,
    posts: Sequence[PublicPost],
    enrichments: dict[str, Enrichment],
    checkpoint: Checkpoint | None,
) -> IngestResult:
    now = deps.clock()
    async with deps.store.transaction() as unit:
        batch = _Batch(deps, unit, enrichments, now)
        for post in sorted(posts, key=lambda p: id_order(p.post_id)):
            await batch.apply(post)
        if checkpoint is not None:
            await unit.checkpoints.advance(checkpoint.name, checkpoint.value, now)
    return batch.result


class _Batch:
    """One transaction's worth of posts."""

    def __init__(
        self, deps: Deps, unit: Unit, enrichments: dict[str, Enrichment], now: datetime
    ) -> None:
        self.deps = deps
        self.unit = unit
        self.enrichments = enrichments
        self.now = now
        self.result = IngestResult()
        self._authors: dict[str, ParticipantRecord] = {}

    async def apply(self, post: PublicPost) -> None:
        if not await self._claim(post):
            self.result.duplicates += 1
            return
        author = await self._author(post)
        if post.reposted_id is not None:
            await self._endorse(post, author, await self._target(post, post.reposted_id))
            return
        if classic_retweet_body(post.text) is not None:
            await self._endorse(post, author, await self._by_text(post))
            return
        if not clean_text(post.text).strip():
            self.result.ignored += 1
            return
        await self._store(post, author, await self._parent(post))

    async def _claim(self, post: PublicPost) -> bool:
        key = self.deps.public_post_key(post.channel, post.post_id)
        return await self.unit.processed.claim(post.channel, key, self.now)

    async def _author(self, post: PublicPost) -> ParticipantRecord:
        key = post.author_id or UNKNOWN_AUTHOR
        if key in self._authors:
            return self._authors[key]
        pseudonym = self.deps.pseudonym(post.channel, key)
        author = await self.unit.participants.find(pseudonym)
        if author is None:
            author = await self.unit.participants.create(
                pseudonym, post.channel, self.now, language=self._language(post.language_hint)
            )
        else:
            await self.unit.participants.update(author.id, last_seen_at=self.now)
        self._authors[key] = author
        return author

    def _language(self, hint: str | None) -> str | None:
        hint = (hint or "").split("-")[0].lower()
        return hint if hint in self.deps.config.consultation.languages else None

    async def _target(self, post: PublicPost, target_id: str) -> ContributionRecord | None:
        """The stored post `target_id`; stored now from the payload's includes when it is
        not stored yet and carries the consultation's hashtag."""
        stored = await self.unit.contributions.find_by_message(post.channel, target_id)
        if stored is not None:
            return stored
        original = next((ref for ref in post.referenced if ref.post_id == target_id), None)
        if (
            original is None
            or original.reposted_id is not None
            or classic_retweet_body(original.text) is not None
            or not carries_hashtag(original.text, self.deps.config.consultation.hashtags)
            or not clean_text(original.text).strip()
        ):
            return None
        if not await self._claim(original):
            return None  # seen before and not stored: it was no idea
        return await self._store(original, await self._author(original), None)

    async def _by_text(self, post: PublicPost) -> ContributionRecord | None:
        words = self.enrichments[post.post_id].text
        if not words.strip():
            return None
        posts = self.unit.public_posts
        for exact in dict.fromkeys((words, words.strip())):
            found = await posts.find_by_text(post.channel, exact)
            if found is not None:
                return found
        cut = words.strip().rstrip("".join(_TRUNCATED)).rstrip()
        if words.strip().endswith(_TRUNCATED) and len(cut) >= MIN_PREFIX:
            return await posts.find_by_text(post.channel, cut, prefix=True)
        return None

    async def _parent(self, post: PublicPost) -> ContributionRecord | None:
        for target_id in (post.reply_to_id, post.quoted_id):
            if target_id:
                target = await self._target(post, target_id)
                if target is not None:
                    return await self._idea_of(target)
        root = post.conversation_id
        if post.reply_to_id and root and root != post.post_id:
            target = await self.unit.contributions.find_by_message(post.channel, root)
            if target is not None:
                return await self._idea_of(target)
        return None

    async def _idea_of(self, record: ContributionRecord | None) -> ContributionRecord | None:
        """The idea a stored post stands for: itself, the idea it comments on, and for a
        merged duplicate the idea it was merged into (which holds its votes and comments)."""
        if record is not None and record.kind != "idea":
            record = (
                await self.unit.contributions.get(record.parent_id) if record.parent_id else None
            )
        for _ in range(8):  # a merge points straight at the survivor; a chain is an oddity
            if record is None or record.duplicate_of is None:
                break
            record = await self.unit.contributions.get(record.duplicate_of)
        return record

    async def _endorse(
        self, post: PublicPost, voter: ParticipantRecord, original: ContributionRecord | None
    ) -> None:
        if original is None:
            log.debug("repost %s: its original is not stored", post.post_id)
            self.result.unmatched += 1
            return
        if original.kind != "idea":
            # A repost of a comment: votes are on ideas, and passing on someone's reply
            # says nothing certain about the idea it answers.
            self.result.ignored += 1
            return
        original = await self._idea_of(original)
        if original is None or original.participant_id == voter.id or not post.author_id:
            # One's own post, or a reposter the payload does not name: one vote per
            # person cannot be kept for someone unknown.
            self.result.ignored += 1
            return
        outcome = await self.unit.votes.cast(
            voter.id, original.id, AGREE, channel=post.channel, profile=Profile(), now=self.now
        )
        if outcome.status == "unchanged":
            self.result.duplicates += 1
        else:
            self.result.endorsements += 1

    async def _store(
        self, post: PublicPost, author: ParticipantRecord, parent: ContributionRecord | None
    ) -> ContributionRecord:
        enriched = self.enrichments[post.post_id]
        language = enriched.language or self._language(post.language_hint)
        record = await self.unit.contributions.add(
            NewContribution(
                kind="comment" if parent else "idea",
                participant_id=author.id,
                text=enriched.text,
                channel=post.channel,
                channel_message_id=post.post_id,
                label=enriched.label,
                created_at=post.created_at,
                question_id=parent.question_id if parent else self._question_id(post),
                parent_id=parent.id if parent else None,
                language=language,
                polarity=enriched.polarity,
                subjectivity=enriched.subjectivity,
                sentiment_confidence=enriched.confidence,
                redactions=enriched.redactions,
                status="pending" if enriched.flagged else "visible",
                moderation_reason=enriched.flagged,
            )
        )
        await self.unit.public_posts.record_metrics(
            record.id, post.created_at, post.metrics, self.now
        )
        if author.language is None and language:
            await self.unit.participants.update(author.id, language=language)
            self._authors[post.author_id or UNKNOWN_AUTHOR] = replace(author, language=language)
        if parent:
            self.result.comments += 1
        else:
            self.result.ideas += 1
        self.result.contribution_ids.append(record.id)
        return record

    def _question_id(self, post: PublicPost) -> int | None:
        ids = self.deps.question_ids
        if post.question_key in ids:
            return ids[post.question_key]
        open_now = self.deps.config.open_questions(post.created_at)
        return ids.get(open_now[0].key) if open_now else None


def public_post_to_json(post: PublicPost) -> str:
    data = asdict(post)
    data["created_at"] = post.created_at.isoformat()
    data["referenced"] = [json.loads(public_post_to_json(ref)) for ref in post.referenced]
    return json.dumps(data, ensure_ascii=False)


def public_post_from_json(text: str) -> PublicPost:
    data = json.loads(text)
    data["created_at"] = datetime.fromisoformat(data["created_at"])
    data["referenced"] = tuple(
        public_post_from_json(json.dumps(ref)) for ref in data.get("referenced") or ()
    )
    return PublicPost(**data)


async def keep_failed_post(deps: Deps, post: PublicPost, error: BaseException) -> None:
    """Keep a post whose storing raised (not for want of a store) in failed_inbound, with
    the error, so one odd post never stops a listener and is not lost either."""
    description = f"{type(error).__name__}: {error}"[:2000]
    async with deps.store.transaction() as unit:
        await unit.failed.add(
            post.channel, post.post_id, public_post_to_json(post), description, deps.clock()
        )


async def retry_failed_post(deps: Deps, failed_id: int) -> IngestResult | None:
    """Store a kept post again (what `retry_failed` does for messages); on success it is
    marked done. Returns None when there is no such kept post."""
    async with deps.store.reader() as unit:
        record = await unit.failed.get(failed_id)
    if record is None or '"post_id"' not in record.raw:
        return None
    post = public_post_from_json(record.raw)
    try:
        result = await ingest_posts(deps, [post])
    except Exception as error:
        await keep_failed_post(deps, post, error)
        raise
    async with deps.store.transaction() as unit:
        await unit.failed.mark(failed_id, "done", deps.clock())
    return result
