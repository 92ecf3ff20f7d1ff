"""X API v2 payloads as data (courier's habit): each row is a payload as X sends it and
what Chorus reads from it; plus X's error answers and how the listener treats them, the
session seam that points tweepy elsewhere, and the reconnect backoff."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import aiohttp
import pytest

from bot.channels.x_api import (
    AccessDenied,
    ApiSession,
    RateLimited,
    Rejected,
    Unauthorized,
    Unavailable,
    describe,
    error_for,
)
from bot.channels.x_posts import metrics_by_id, posts_from_payload
from bot.retry import Backoff
from tests.fakes.x_api import NOT_ENROLLED, TOO_MANY, UNAUTHORIZED

RECEIVED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ORIGINAL = {
    "id": "1800000000000000001",
    "text": "Physios in every GP surgery #AHPsIntoAction",
    "author_id": "783214",
    "created_at": "2026-11-30T18:00:00.000Z",
}

# label, payload, expected (post_id, author_id, text, reposted, replied, quoted, created_at)
PAYLOADS = [
    (
        "search page with includes",
        {
            "data": [
                {
                    "id": "1800000000000000042",
                    "text": "RT @amira: Physios in every GP surgery #AHPsIntoAction",
                    "author_id": "2244994945",
                    "created_at": "2026-12-01T08:30:00.000Z",
                    "lang": "en",
                    "conversation_id": "1800000000000000042",
                    "referenced_tweets": [{"type": "retweeted", "id": ORIGINAL["id"]}],
                    "public_metrics": {
                        "retweet_count": 3,
                        "reply_count": 1,
                        "like_count": 9,
                        "quote_count": 0,
                        "impression_count": 120,
                    },
                }
            ],
            "includes": {"tweets": [ORIGINAL], "users": [{"id": "2244994945", "username": "x"}]},
            "meta": {"result_count": 1, "newest_id": "1800000000000000042"},
        },
        [("1800000000000000042", "2244994945", None, ORIGINAL["id"], None, None, "08:30")],
    ),
    (
        "stream line: a reply that quotes",
        {
            "data": {
                "id": "1800000000000000043",
                "text": "@amira yes &amp; more OTs &lt;3 #AHPsIntoAction",
                "author_id": "99",
                "referenced_tweets": [
                    {"type": "replied_to", "id": "1800000000000000001"},
                    {"type": "quoted", "id": "1800000000000000002"},
                ],
            },
            "matching_rules": [{"id": "1677", "tag": "chorus"}],
        },
        [
            (
                "1800000000000000043",
                "99",
                "@amira yes & more OTs <3 #AHPsIntoAction",
                None,
                "1800000000000000001",
                "1800000000000000002",
                "09:00",
            )
        ],
    ),
    (
        "only id and text, no includes",
        {"data": [{"id": "1800000000000000044", "text": "Hello #AHPsIntoAction"}]},
        [("1800000000000000044", "", "Hello #AHPsIntoAction", None, None, None, "09:00")],
    ),
    (
        "a long post's whole text",
        {
            "data": [
                {
                    "id": "1800000000000000045",
                    "text": "The first 280 characters…",
                    "note_tweet": {"text": "The first 280 characters and the rest of it"},
                }
            ]
        },
        [
            (
                "1800000000000000045",
                "",
                "The first 280 characters and the rest of it",
                None,
                None,
                None,
                "09:00",
            )
        ],
    ),
    (
        "an unreadable post among good ones is left out",
        {"data": [{"text": "no id"}, {"id": "abc", "text": "odd id"}, "nonsense", ORIGINAL]},
        [(ORIGINAL["id"], "783214", ORIGINAL["text"], None, None, None, "18:00")],
    ),
    ("an empty search page", {"meta": {"result_count": 0}}, []),
    (
        "an operational disconnect notice",
        {"errors": [{"title": "operational-disconnect", "disconnect_type": "Upstream"}]},
        [],
    ),
    ("not an object", ["data"], []),
]


@pytest.mark.parametrize(
    "payload,expected", [row[1:] for row in PAYLOADS], ids=[row[0] for row in PAYLOADS]
)
def test_payloads(payload: object, expected: list[tuple]) -> None:
    posts = posts_from_payload(payload, received_at=RECEIVED, question_key="ahp-action")
    read = [
        (
            p.post_id,
            p.author_id,
            p.text if expected and expected[0][2] is not None else None,
            p.reposted_id,
            p.reply_to_id,
            p.quoted_id,
            p.created_at.strftime("%H:%M"),
        )
        for p in posts
    ]
    assert read == expected
    assert all(p.channel == "x" and p.question_key == "ahp-action" for p in posts)


def test_the_original_and_metrics_travel_with_a_repost() -> None:
    [repost] = posts_from_payload(PAYLOADS[0][1], received_at=RECEIVED)
    assert repost.metrics == {"likes": 9, "reposts": 3, "replies": 1, "quotes": 0}
    assert repost.language_hint == "en" and repost.conversation_id == repost.post_id
    [original] = repost.referenced
    assert (original.post_id, original.author_id, original.text) == (
        ORIGINAL["id"],
        "783214",
        ORIGINAL["text"],
    )
    lookup = {"data": [{"id": "7", "text": "t", "public_metrics": {"like_count": 2}}]}
    assert metrics_by_id(lookup) == {"7": {"likes": 2}}


# status, body, headers, error class, tier
ERRORS = [
    (401, UNAUTHORIZED, None, Unauthorized, None),
    (403, NOT_ENROLLED, None, AccessDenied, True),
    (403, {"errors": [NOT_ENROLLED]}, None, AccessDenied, True),
    (403, {"title": "Forbidden", "detail": "Forbidden"}, None, AccessDenied, False),
    (429, TOO_MANY, "1796000000", RateLimited, None),
    (
        400,
        {"title": "Invalid Request", "errors": [{"message": "Invalid 'since_id'"}]},
        None,
        Rejected,
        None,
    ),
    (503, {"title": "Service Unavailable"}, None, Unavailable, None),
]


@pytest.mark.parametrize("status,body,reset,kind,tier", ERRORS)
def test_x_error_answers(status, body, reset, kind, tier) -> None:
    error = error_for(status, body, reset)
    assert type(error) is kind and str(error).startswith(str(status))
    if tier is not None:
        assert error.tier is tier
    if kind is RateLimited:
        assert error.reset_at == 1796000000.0


def test_error_descriptions_name_the_reason() -> None:
    assert describe(NOT_ENROLLED, 403).startswith("403: Client Forbidden - client-not-enrolled")
    assert "Invalid 'since_id'" in str(error_for(400, ERRORS[5][1]))


async def test_the_session_seam_points_tweepy_at_api_base() -> None:
    async with aiohttp.ClientSession() as http:
        session = ApiSession(http, "http://127.0.0.1:9/", aiohttp.ClientTimeout(total=1))
        assert session.url("https://api.twitter.com/2/tweets/search/recent") == (
            "http://127.0.0.1:9/2/tweets/search/recent"
        )
        assert session.url("https://api.x.com/2/tweets") == "http://127.0.0.1:9/2/tweets"
        with pytest.raises(ValueError):
            session.url("https://example.org/2/tweets")
        assert session.closed is False  # tweepy must never open a session of its own


def test_backoff_grows_with_jitter_up_to_its_ceiling() -> None:
    backoff = Backoff(1, 8, rng=random.Random(3))
    waits = [backoff.next() for _ in range(6)]
    for wait, ceiling in zip(waits, [1, 2, 4, 8, 8, 8], strict=True):
        assert ceiling / 2 <= wait <= ceiling
    assert len(set(waits)) == 6  # jittered
    backoff.reset()
    assert backoff.next() <= 1
