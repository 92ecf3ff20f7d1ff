"""Reading X API v2 payloads: posts (tweets) in search pages, stream lines and lookups
become `PublicPost` values. Only what Chorus needs is read; no handle or name is kept.

A search page (GET /2/tweets/search/recent) looks like this; a stream line has the same
shape with one post in "data" and the rules it matched in "matching_rules"::

    {"data": [{"id": "1800000000000000042",
               "text": "RT @amira: Physios in every GP surgery #AHPsIntoAction",
               "author_id": "2244994945", "created_at": "2026-12-01T08:30:00.000Z",
               "lang": "en", "conversation_id": "1800000000000000042",
               "referenced_tweets": [{"type": "retweeted", "id": "1800000000000000001"}],
               "entities": {"hashtags": [{"start": 39, "end": 54, "tag": "AHPsIntoAction"}]},
               "public_metrics": {"retweet_count": 0, "reply_count": 0,
                                  "like_count": 0, "quote_count": 0}}],
     "includes": {"tweets": [{"id": "1800000000000000001", "text": "Physios in ...",
                              "author_id": "783214", "created_at": "..."}]},
     "meta": {"newest_id": "1800000000000000042", "oldest_id": "...",
              "result_count": 1, "next_token": "b26v89c19zqg8o3f"}}

A payload without "includes" and with only "id" and "text" is read too: the author is
then unknown, the time is when it was received. X escapes &, < and > in texts as HTML
entities; they are unescaped here.
"""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime

from handlers.types import PublicPost

log = logging.getLogger(__name__)

CHANNEL = "x"
# What Chorus asks X for, in search and in the stream alike.
TWEET_FIELDS = [
    "author_id",
    "created_at",
    "lang",
    "entities",
    "public_metrics",
    "referenced_tweets",
    "conversation_id",
    "note_tweet",  # the whole text of a long post; "text" holds its first 280 characters
]
EXPANSIONS = ["author_id", "referenced_tweets.id"]
REQUEST_FIELDS = {"tweet_fields": TWEET_FIELDS, "expansions": EXPANSIONS}

_METRICS = {
    "like_count": "likes",
    "retweet_count": "reposts",
    "reply_count": "replies",
    "quote_count": "quotes",
}


def _items(value: object) -> list[dict]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def metrics_of(tweet: dict) -> dict[str, int]:
    public = tweet.get("public_metrics")
    if not isinstance(public, dict):
        return {}
    return {ours: int(public[theirs]) for theirs, ours in _METRICS.items() if theirs in public}


def _time(value: object, fallback: datetime) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return fallback
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return fallback


def _post(
    tweet: dict,
    *,
    received_at: datetime,
    question_key: str | None,
    includes: dict[str, dict],
    nested: bool = False,
) -> PublicPost:
    post_id = str(tweet["id"])
    if not post_id.isdigit():
        raise ValueError(f"post id {post_id!r} is not a decimal id")
    long_text = tweet.get("note_tweet")
    text = long_text.get("text") if isinstance(long_text, dict) else None
    references = {
        str(ref.get("type")): str(ref.get("id"))
        for ref in _items(tweet.get("referenced_tweets"))
        if ref.get("id") is not None
    }
    referenced: tuple[PublicPost, ...] = ()
    if not nested:
        referenced = tuple(
            _post(
                includes[ref_id],
                received_at=received_at,
                question_key=question_key,
                includes=includes,
                nested=True,
            )
            for ref_id in dict.fromkeys(references.values())
            if ref_id in includes
        )
    return PublicPost(
        channel=CHANNEL,
        post_id=post_id,
        author_id=str(tweet.get("author_id") or ""),
        text=html.unescape(str(text or tweet.get("text") or "")),
        created_at=_time(tweet.get("created_at"), received_at),
        question_key=question_key,
        reposted_id=references.get("retweeted"),
        reply_to_id=references.get("replied_to"),
        quoted_id=references.get("quoted"),
        conversation_id=str(tweet["conversation_id"]) if tweet.get("conversation_id") else None,
        language_hint=tweet.get("lang") if isinstance(tweet.get("lang"), str) else None,
        metrics=metrics_of(tweet),
        referenced=referenced,
    )


def posts_from_payload(
    payload: object, *, received_at: datetime, question_key: str | None = None
) -> list[PublicPost]:
    """The posts in a search page, stream line or lookup; a post that cannot be read is
    logged and left out, never the whole payload."""
    if not isinstance(payload, dict):
        log.warning("ignoring an X payload that is not a JSON object")
        return []
    includes = (
        {
            str(tweet["id"]): tweet
            for tweet in _items((payload.get("includes") or {}).get("tweets"))
            if tweet.get("id") is not None
        }
        if isinstance(payload.get("includes"), dict)
        else {}
    )
    posts = []
    for tweet in _items(payload.get("data")):
        try:
            posts.append(
                _post(tweet, received_at=received_at, question_key=question_key, includes=includes)
            )
        except (KeyError, TypeError, ValueError) as error:
            log.warning(
                "ignoring an X post Chorus cannot read (%s: %s)", type(error).__name__, error
            )
    return posts


def metrics_by_id(payload: object) -> dict[str, dict[str, int]]:
    """Post id -> public metrics, from a lookup (GET /2/tweets?ids=...)."""
    if not isinstance(payload, dict):
        return {}
    return {
        str(tweet["id"]): metrics_of(tweet)
        for tweet in _items(payload.get("data"))
        if tweet.get("id") is not None and isinstance(tweet.get("public_metrics"), dict)
    }
