"""The load benchmark's traffic (bench/load.py): what each simulated person sends (a
journey, or a seeding share of an idea), the crowd of people split between SMS and
Telegram, and each message built as its provider sends it (Twilio's signed form, or a
Telegram webhook update carrying the secret)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import math
import os
import random
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

SMS_PATH = "/webhooks/sms"
TELEGRAM_PATH = "/webhooks/telegram"
PUBLIC_SMS_URL = "https://load.example.org/webhooks/sms"
PUBLIC_TELEGRAM_URL = "https://load.example.org/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


# Ideas are made of words drawn for each person from VADER's lexicon (thousands of words),
# so no two are alike enough for Chorus to offer one as "like" another (which would turn a
# new idea into a vote and change what the run stores).
def _lexicon_words() -> list[str]:
    import vaderSentiment

    path = os.path.join(os.path.dirname(vaderSentiment.__file__), "vader_lexicon.txt")
    with open(path, encoding="utf-8") as lexicon:
        rows = (line.split("\t", 2) for line in lexicon)
        # Kindly words only: no idea may be held back for moderation.
        words = (row[0] for row in rows if float(row[1]) > 0)
        kept = [w for w in words if w.isalpha() and w.islower() and len(w) >= 5]
    from handlers.enrich.moderation import moderation_flag

    return [w for w in kept if moderation_flag(w) is None]


IDEA_WORDS = _lexicon_words()


def an_idea(person: int) -> str:
    draw = random.Random(person)
    words = draw.sample(IDEA_WORDS, 8)
    return " ".join(words).capitalize()


def journey(person: int) -> list[str]:
    """What one person sends, in order: start, consent, three skips, an idea, five votes."""
    return [
        "START",
        "YES",
        "SKIP",
        "SKIP",
        "SKIP",
        an_idea(person),
        "VOTE",
        "1",
        "2",
        "1",
        "2",
        "1",
    ]


def seeding(person: int) -> list[str]:
    """Untimed, before a run: people who share an idea, so votes have something to see."""
    return ["START", "YES", "SKIP", "SKIP", "SKIP", an_idea(person)]


@dataclass(frozen=True)
class Person:
    channel: str  # "sms" or "telegram"
    ident: int  # the phone's digits, or the Telegram user id
    texts: tuple[str, ...]


def people(count: int, tag: int, telegram_share: float, script=journey) -> list[Person]:
    """`count` people, new ones for every run (`tag`), a share of them on Telegram spread
    evenly through the crowd."""
    crowd = []
    for n in range(count):
        on_telegram = math.floor((n + 1) * telegram_share) > math.floor(n * telegram_share)
        channel = "telegram" if on_telegram else "sms"
        ident = tag * 1_000_000 + n  # also draws their idea: no two people send the same
        crowd.append(Person(channel, ident, tuple(script(ident))))
    return crowd


class Requests:
    """Builds each message as its provider sends it: an SMS as Twilio's signed form, a
    Telegram message as a webhook update carrying the secret."""

    def __init__(self, auth_token: str, telegram_secret: str) -> None:
        self.auth_token = auth_token
        self.telegram_secret = telegram_secret
        self.update_ids = itertools.count(secrets.randbelow(10**6) * 1000 + 1)

    def sms_signature(self, fields: Sequence[tuple[str, str]]) -> str:
        data = PUBLIC_SMS_URL + "".join(name + value for name, value in sorted(fields))
        digest = hmac.new(self.auth_token.encode(), data.encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()

    def build(self, person: Person, text: str) -> tuple[str, bytes, dict[str, str]]:
        if person.channel == "sms":
            sid = "SM" + secrets.token_hex(16)
            fields = [
                ("AccountSid", "AC" + "0" * 32), ("ApiVersion", "2010-04-01"), ("Body", text),
                ("From", f"+44{person.ident:010d}"), ("MessageSid", sid), ("NumMedia", "0"),
                ("NumSegments", "1"), ("SmsMessageSid", sid), ("SmsSid", sid),
                ("SmsStatus", "received"), ("To", "+447700900000"),
            ]  # fmt: skip
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": self.sms_signature(fields),
            }
            return SMS_PATH, urlencode(fields).encode(), headers
        user = {"id": person.ident, "is_bot": False, "first_name": "Load"}
        update_id = next(self.update_ids)
        update = {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": int(time.time()),
                "from": user,
                "chat": {"id": person.ident, "type": "private", "first_name": "Load"},
                "text": text,
            },
        }
        headers = {"Content-Type": "application/json", SECRET_HEADER: self.telegram_secret}
        return TELEGRAM_PATH, json.dumps(update).encode(), headers
