"""The meaning of a public post, on SQLite and PostgreSQL: ideas, endorsements (reposts,
in both payload shapes), comments (replies and quotes), pseudonymous authors, each post
applied once, and a checkpoint that moves only with a committed batch (`CommitBreaker`
makes the database itself refuse a COMMIT)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from handlers.engine import Engine
from handlers.insights.context import Reporting
from handlers.insights.scope import ReportScope
from handlers.insights.summary import build_summary
from handlers.public import (
    Checkpoint,
    carries_hashtag,
    classic_retweet_body,
    id_order,
    keep_failed_post,
    public_post_from_json,
    retry_failed_post,
)
from handlers.types import PublicPost
from storage.database import Store
from storage.errors import StoreConflict
from storage.models import Contribution, Participant, PostMetrics, ProcessedMessage, Vote
from tests.people import Person

POSTED = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
CHECKPOINT = "x.newest_id"


def post(post_id: str, text: str, author: str = "1001", **fields: object) -> PublicPost:
    return PublicPost(
        channel="x", post_id=post_id, author_id=author, text=text, created_at=POSTED, **fields
    )


IDEA = post(
    "1800000000000000001",
    "Physios in every GP surgery would be wonderful #AHPsIntoAction @NHSEngland "
    "https://t.co/abc123 mail me at amira@example.org",
    metrics={"likes": 4, "reposts": 2, "replies": 1, "quotes": 0},
)


class CommitBreaker:
    """While armed, every transaction that writes a checkpoint fails at COMMIT, for real:
    a trigger on `checkpoints` adds a row that breaks a deferred foreign key, which the
    database checks only when the transaction commits. Installed on entry (armed),
    removed on exit."""

    SQLITE = [
        "CREATE TABLE commit_breaker (participant_id INTEGER "
        "REFERENCES participants(id) DEFERRABLE INITIALLY DEFERRED)",
        "CREATE TABLE commit_breaker_armed (armed INTEGER)",
        *(
            f"CREATE TRIGGER commit_breaker_{event} AFTER {event} ON checkpoints "
            "WHEN EXISTS (SELECT 1 FROM commit_breaker_armed) "
            "BEGIN INSERT INTO commit_breaker VALUES (-1); END"
            for event in ("INSERT", "UPDATE")
        ),
    ]
    POSTGRESQL = [
        "CREATE TABLE commit_breaker (participant_id BIGINT "
        "REFERENCES participants(id) DEFERRABLE INITIALLY DEFERRED)",
        "CREATE TABLE commit_breaker_armed (armed INTEGER)",
        "CREATE FUNCTION commit_breaker() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF EXISTS (SELECT 1 FROM commit_breaker_armed) THEN "
        "INSERT INTO commit_breaker VALUES (-1); END IF; RETURN NULL; END $$",
        "CREATE TRIGGER commit_breaker AFTER INSERT OR UPDATE ON checkpoints "
        "FOR EACH ROW EXECUTE FUNCTION commit_breaker()",
    ]
    REMOVE = {
        "sqlite": [
            "DROP TRIGGER commit_breaker_INSERT",
            "DROP TRIGGER commit_breaker_UPDATE",
        ],
        "postgresql": [
            "DROP TRIGGER commit_breaker ON checkpoints",
            "DROP FUNCTION commit_breaker()",
        ],
    }

    def __init__(self, store: Store) -> None:
        self.store = store

    async def _run(self, *statements: str) -> None:
        async with self.store.engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement))

    async def __aenter__(self) -> CommitBreaker:
        backend = self.store.backend
        await self._run(*(self.SQLITE if backend == "sqlite" else self.POSTGRESQL))
        await self.arm()
        return self

    async def arm(self) -> None:
        await self._run("INSERT INTO commit_breaker_armed VALUES (1)")

    async def disarm(self) -> None:
        await self._run("DELETE FROM commit_breaker_armed")

    async def __aexit__(self, *_exc: object) -> None:
        await self._run(
            *self.REMOVE[self.store.backend],
            "DROP TABLE commit_breaker",
            "DROP TABLE commit_breaker_armed",
        )


async def contributions(engine: Engine) -> list[Contribution]:
    async with engine.store.reader() as unit:
        return list(await unit.session.scalars(select(Contribution).order_by(Contribution.id)))


async def checkpoint_of(engine: Engine) -> str | None:
    async with engine.store.reader() as unit:
        return await unit.checkpoints.get(CHECKPOINT)


async def test_an_original_post_is_an_idea_enriched_like_any_message(engine: Engine) -> None:
    result = await engine.ingest_public([IDEA], checkpoint=Checkpoint(CHECKPOINT, IDEA.post_id))
    assert (result.ideas, result.comments, result.endorsements) == (1, 0, 0)
    [idea] = await contributions(engine)
    assert idea.kind == "idea" and idea.channel == "x"
    assert idea.channel_message_id == IDEA.post_id
    # Hashtags, mentions and links stay in the stored text; personal data does not.
    assert "#AHPsIntoAction" in idea.text and "@NHSEngland" in idea.text
    assert "https://t.co/abc123" in idea.text
    assert "amira@example.org" not in idea.text and "email" in idea.redactions
    assert idea.language == "en" and idea.label == "positive"
    assert idea.question_id == engine.question_ids["ahp-action"]
    assert idea.created_at == POSTED
    async with engine.store.reader() as unit:
        author = await unit.participants.get(idea.participant_id)
        reach = await unit.public_posts.metrics_of(idea.id)
    assert author.pseudonym == engine.pseudonym("x", "1001") and author.channel == "x"
    assert reach == {"likes": 4, "reposts": 2, "replies": 1, "quotes": 0}
    assert await checkpoint_of(engine) == IDEA.post_id


async def test_sentiment_ignores_hashtags_mentions_and_links(engine: Engine) -> None:
    # "#Terrible" and "@awful_trust" would make the words negative if they were scored.
    await engine.ingest_public([post("11", "Great helpful physios #Terrible @awful_trust")])
    [idea] = await contributions(engine)
    assert idea.label == "positive"


async def test_abusive_or_naming_posts_wait_for_moderation(engine: Engine) -> None:
    await engine.ingest_public(
        [
            post("13", "This shit service needs fixing #AHPsIntoAction"),
            post("14", "Dr Smith on ward 5 was rude #AHPsIntoAction", author="1002"),
        ]
    )
    flagged = [(c.status, c.moderation_reason) for c in await contributions(engine)]
    assert flagged == [("pending", "abuse"), ("pending", "named_person")]


async def test_no_handle_or_author_id_is_stored(engine: Engine) -> None:
    await engine.ingest_public(
        [post("21", "RT @amira_h: Physios in every GP surgery #AHPsIntoAction", author="987654")]
    )
    await engine.ingest_public([post("22", "More OTs please #AHPsIntoAction", author="987654")])
    async with engine.store.reader() as unit:
        people = list(await unit.session.scalars(select(Participant)))
    stored = " ".join(f"{p.pseudonym} {p.answers} {p.state}" for p in people)
    assert "987654" not in stored and "amira_h" not in stored
    assert [p.pseudonym for p in people] == [engine.pseudonym("x", "987654")]


@pytest.mark.parametrize(
    "repost",
    [
        post(
            "1800000000000000009", "RT @amira: Physios...", author="2002", reposted_id=IDEA.post_id
        ),
        post("1800000000000000009", "RT @amira: " + IDEA.text, author="2002"),
        post("1800000000000000009", "RT @amira: " + IDEA.text[:60] + "\u2026", author="2002"),
    ],
    ids=["referenced_tweets", "classic-rt-text", "classic-rt-truncated"],
)
async def test_a_repost_is_an_endorsement_not_an_idea(engine: Engine, repost: PublicPost) -> None:
    await engine.ingest_public([IDEA])
    result = await engine.ingest_public([repost])
    assert (result.ideas, result.endorsements) == (0, 1)
    [idea] = await contributions(engine)
    assert (idea.agree_count, idea.disagree_count, idea.vote_count) == (1, 0, 1)
    async with engine.store.reader() as unit:
        [vote] = await unit.votes.for_idea(idea.id)
        voter = await unit.participants.get(vote.participant_id)
    assert vote.value == 1 and vote.channel == "x"
    assert voter.pseudonym == engine.pseudonym("x", "2002")


async def test_a_repost_of_an_unknown_original_is_no_idea(engine: Engine) -> None:
    result = await engine.ingest_public(
        [
            post("31", "RT @someone: words", author="2002", reposted_id="30"),
            post("32", "RT @someone: Words never stored #AHPsIntoAction", author="2003"),
        ]
    )
    assert (result.ideas, result.endorsements, result.unmatched) == (0, 0, 2)
    assert await contributions(engine) == []


async def test_a_cut_short_classic_retweet_needs_enough_words_to_match(
    engine: Engine,
) -> None:
    await engine.ingest_public([IDEA])
    result = await engine.ingest_public(
        [post("1800000000000000011", "RT @amira: Physios in\u2026", author="2002")]
    )
    assert (result.endorsements, result.unmatched) == (0, 1)


async def test_an_original_sent_along_with_its_repost_is_stored_first(engine: Engine) -> None:
    original = post("40", "Fund more podiatry clinics #AHPsIntoAction", author="3003")
    unrelated = post("41", "Nothing to do with it", author="3004")
    result = await engine.ingest_public(
        [
            post(
                "42", "RT @x: Fund more...", author="2002", reposted_id="40", referenced=(original,)
            ),
            post(
                "43", "RT @y: Nothing...", author="2002", reposted_id="41", referenced=(unrelated,)
            ),
        ]
    )
    assert (result.ideas, result.endorsements, result.unmatched) == (1, 1, 1)
    [idea] = await contributions(engine)
    assert idea.channel_message_id == "40" and idea.agree_count == 1
    # The original itself arriving later (e.g. from a backfill) is not stored again.
    again = await engine.ingest_public([original])
    assert (again.ideas, again.duplicates) == (0, 1)


async def test_reposting_ones_own_post_is_not_a_vote(engine: Engine) -> None:
    await engine.ingest_public([IDEA])
    result = await engine.ingest_public(
        [post("1800000000000000010", "RT @me: ...", reposted_id=IDEA.post_id)]
    )
    assert (result.endorsements, result.ignored) == (0, 1)
    [idea] = await contributions(engine)
    assert idea.vote_count == 0


async def test_replies_and_quotes_of_stored_ideas_are_comments(engine: Engine) -> None:
    await engine.ingest_public([IDEA])
    result = await engine.ingest_public(
        [
            post(
                "1800000000000000020",
                "@amira Yes, and OTs too #AHPsIntoAction",
                author="2002",
                reply_to_id=IDEA.post_id,
                conversation_id=IDEA.post_id,
            ),
            post(
                "1800000000000000021",
                "This! #AHPsIntoAction https://t.co/q",
                author="2003",
                quoted_id=IDEA.post_id,
            ),
            # A reply to the reply is a comment on the idea too (comments are one level).
            post(
                "1800000000000000022",
                "@b agreed #AHPsIntoAction",
                author="2004",
                reply_to_id="1800000000000000020",
                conversation_id=IDEA.post_id,
            ),
            # A reply deeper in the thread, to a post Chorus never saw, finds the idea
            # through the thread's first post.
            post(
                "1800000000000000023",
                "@c same here #AHPsIntoAction",
                author="2005",
                reply_to_id="1799999999999999999",
                conversation_id=IDEA.post_id,
            ),
        ]
    )
    assert (result.ideas, result.comments) == (0, 4)
    idea, *comments = await contributions(engine)
    assert [c.kind for c in comments] == ["comment"] * 4
    assert {c.parent_id for c in comments} == {idea.id}
    assert {c.question_id for c in comments} == {idea.question_id}


async def test_a_repost_of_a_comment_is_no_vote(engine: Engine) -> None:
    reply = post(
        "1800000000000000024",
        "@amira Yes! #AHPsIntoAction",
        author="2002",
        reply_to_id=IDEA.post_id,
    )
    await engine.ingest_public([IDEA, reply])
    result = await engine.ingest_public(
        [post("1800000000000000025", "RT @b: Yes!", author="2003", reposted_id=reply.post_id)]
    )
    assert (result.ideas, result.comments, result.endorsements, result.ignored) == (0, 0, 0, 1)
    async with engine.store.reader() as unit:
        assert list(await unit.session.scalars(select(Vote))) == []


async def test_reposts_and_replies_of_a_merged_idea_go_to_the_surviving_idea(
    engine: Engine,
) -> None:
    twin = post("1800000000000000026", "Physios in all GP surgeries #AHPsIntoAction", "3003")
    await engine.ingest_public([IDEA, twin])
    survivor, duplicate = await contributions(engine)
    async with engine.store.transaction() as unit:
        await unit.moderation.merge(duplicate.id, survivor.id)
    result = await engine.ingest_public(
        [
            post("1800000000000000027", "RT @c: Physios...", "2002", reposted_id=twin.post_id),
            post("1800000000000000028", "@c yes #AHPsIntoAction", "2003", reply_to_id=twin.post_id),
            # The survivor's own author reposting the duplicate: still no vote on one's own.
            post("1800000000000000029", "RT @c: Physios...", "1001", reposted_id=twin.post_id),
        ]
    )
    assert (result.endorsements, result.comments, result.ignored) == (1, 1, 1)
    survivor, duplicate, comment = await contributions(engine)
    assert (survivor.agree_count, duplicate.agree_count) == (1, 0)
    assert comment.parent_id == survivor.id


async def test_a_reply_to_a_post_chorus_does_not_hold_is_an_idea(engine: Engine) -> None:
    result = await engine.ingest_public(
        [
            post(
                "51",
                "@NHSEngland More dietitians in schools #AHPsIntoAction",
                reply_to_id="50",
                conversation_id="50",
            )
        ]
    )
    assert (result.ideas, result.comments) == (1, 0)
    [idea] = await contributions(engine)
    assert idea.kind == "idea" and idea.parent_id is None


async def test_a_post_seen_twice_is_applied_once(engine: Engine) -> None:
    repost = post("1800000000000000030", "RT", author="2002", reposted_id=IDEA.post_id)
    first = await engine.ingest_public([IDEA, repost], checkpoint=Checkpoint(CHECKPOINT, "30"))
    second = await engine.ingest_public([repost, IDEA], checkpoint=Checkpoint(CHECKPOINT, "30"))
    assert (first.ideas, first.endorsements) == (1, 1)
    assert (second.ideas, second.endorsements, second.duplicates) == (0, 0, 2)
    [idea] = await contributions(engine)
    assert idea.agree_count == 1
    async with engine.store.reader() as unit:
        assert len(list(await unit.session.scalars(select(Vote)))) == 1


async def test_the_checkpoint_only_moves_forward(engine: Engine) -> None:
    await engine.ingest_public([], checkpoint=Checkpoint(CHECKPOINT, "1800000000000000100"))
    await engine.ingest_public([], checkpoint=Checkpoint(CHECKPOINT, "999"))
    await engine.ingest_public([], checkpoint=Checkpoint(CHECKPOINT, "1799999999999999999"))
    assert await checkpoint_of(engine) == "1800000000000000100"
    await engine.ingest_public([], checkpoint=Checkpoint(CHECKPOINT, "1800000000000000101"))
    assert await checkpoint_of(engine) == "1800000000000000101"


async def test_a_failed_batch_stores_nothing_and_keeps_the_checkpoint(engine: Engine) -> None:
    await engine.ingest_public([IDEA], checkpoint=Checkpoint(CHECKPOINT, IDEA.post_id))
    broken = PublicPost(  # a naive time: the batch fails at its last post
        channel="x",
        post_id="1800000000000000050",
        author_id="2002",
        text="Later idea #AHPsIntoAction",
        created_at=datetime(2026, 12, 1, 9, 0),
    )
    good = post("1800000000000000040", "Another idea #AHPsIntoAction", author="2003")
    with pytest.raises(TypeError):
        await engine.ingest_public(
            [good, broken], checkpoint=Checkpoint(CHECKPOINT, broken.post_id)
        )
    assert [c.channel_message_id for c in await contributions(engine)] == [IDEA.post_id]
    assert await checkpoint_of(engine) == IDEA.post_id
    retried = await engine.ingest_public([good], checkpoint=Checkpoint(CHECKPOINT, good.post_id))
    assert retried.ideas == 1  # its id was not claimed by the failed batch


async def test_a_failed_commit_stores_nothing_and_keeps_the_checkpoint(engine: Engine) -> None:
    await engine.ingest_public([IDEA], checkpoint=Checkpoint(CHECKPOINT, IDEA.post_id))
    later = [
        post("1800000000000000060", "Another idea #AHPsIntoAction", author="2003"),
        post("1800000000000000061", "RT @a: Physios...", author="2004", reposted_id=IDEA.post_id),
    ]
    async with CommitBreaker(engine.store) as breaker:
        with pytest.raises(StoreConflict, match="(?i)foreign key"):
            await engine.ingest_public(later, checkpoint=Checkpoint(CHECKPOINT, later[1].post_id))
        # The COMMIT itself failed: no post, no vote, no claimed id, the checkpoint as it was.
        [idea] = await contributions(engine)
        assert idea.channel_message_id == IDEA.post_id and idea.agree_count == 0
        assert await checkpoint_of(engine) == IDEA.post_id
        async with engine.store.reader() as unit:
            key = engine.deps.public_post_key("x", later[0].post_id)
            assert not await unit.processed.seen("x", key)
        await breaker.disarm()
        retried = await engine.ingest_public(
            later, checkpoint=Checkpoint(CHECKPOINT, later[1].post_id)
        )
    assert (retried.ideas, retried.endorsements, retried.duplicates) == (1, 1, 0)
    assert await checkpoint_of(engine) == later[1].post_id


async def test_a_post_kept_as_failed_can_be_stored_again(engine: Engine) -> None:
    await keep_failed_post(engine.deps, IDEA, RuntimeError("a bug, since fixed"))
    async with engine.store.reader() as unit:
        [kept] = await unit.failed.list()
    assert public_post_from_json(kept.raw) == IDEA
    result = await retry_failed_post(engine.deps, kept.id)
    assert result.ideas == 1 and await retry_failed_post(engine.deps, 999) is None
    async with engine.store.reader() as unit:
        assert await unit.failed.list() == []  # done
    [idea] = await contributions(engine)
    assert idea.channel_message_id == IDEA.post_id


async def test_x_ideas_are_voted_on_from_other_channels(engine: Engine) -> None:
    await engine.ingest_public([IDEA])
    sam = Person(engine, "sam", "console")
    await sam.join()
    await sam.say("VOTE")
    assert "Physios in every GP surgery" in sam.text
    await sam.say("1")
    [idea] = await contributions(engine)
    assert idea.agree_count == 1


async def test_erasing_an_x_author_removes_their_posts_and_reach(engine: Engine) -> None:
    await engine.ingest_public([IDEA])
    [idea] = await contributions(engine)
    async with engine.store.transaction() as unit:
        await unit.participants.erase(idea.participant_id)
    async with engine.store.reader() as unit:
        assert list(await unit.session.scalars(select(PostMetrics))) == []
        # Nothing left leads to the post (its id names its author on X) ...
        seen = list(await unit.session.scalars(select(ProcessedMessage.message_id)))
        assert seen and all(IDEA.post_id not in key for key in seen)
    assert await contributions(engine) == []
    # ... yet a backfill that meets it again, or a repost carrying it, does not bring it back.
    repost = post("1800000000000000070", "RT @a: Physios", author="2009", reposted_id=IDEA.post_id)
    again = await engine.ingest_public([IDEA, replace(repost, referenced=(IDEA,))])
    assert again.duplicates == 1 and again.ideas == 0
    assert await contributions(engine) == []


def test_helpers() -> None:
    assert classic_retweet_body("RT @a_b: hello") == "hello"
    assert classic_retweet_body("Not RT @a: x") is None
    assert carries_hashtag("we need #ahpsintoaction!", ["#AHPsIntoAction"])
    assert not carries_hashtag("#AHPsIntoAction2027", ["#AHPsIntoAction"])
    assert sorted(["100", "99", "1000"], key=id_order) == ["99", "100", "1000"]


async def test_public_channels_are_those_declared_public_whatever_their_name(
    engine: Engine,
) -> None:
    """The reports count posters as signed up, and report reach, by the declared medium:
    a public channel under another name counts, and "x" declared otherwise does not."""
    engine.replace_deps(channel_media={"mastodon": "public", "x": "chat"})
    elsewhere = replace(IDEA, channel="mastodon", post_id="77", author_id="3001")
    await engine.ingest_public([elsewhere, replace(IDEA, author_id="3002")])
    summary = await build_summary(Reporting.of(engine.deps), ReportScope())
    assert summary["signed_up"] == 1 and summary["activity"]["last_24h"]["joined"] == 1
    assert list(summary["reach"]) == ["mastodon"] and summary["reach"]["mastodon"]["posts"] == 1
    engine.replace_deps(channel_media={"mastodon": "public", "x": "public"})
    summary = await build_summary(Reporting.of(engine.deps), ReportScope())
    assert summary["signed_up"] == 2 and list(summary["reach"]) == ["mastodon", "x"]
