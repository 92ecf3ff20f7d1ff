"""Micro-benchmark: CPU microseconds to check one Twilio webhook signature, the way the
SMS and voice webhooks check it (bot/channels/twilio_common.py `TwilioWebhook._signed`:
the twilio library's signature of the URL as given, compared in constant time, and its
`RequestValidator.validate` only when that differs) against calling `validate` alone,
which always computes two HMACs (the URL with its default port added and removed).
Both on the same signed SMS form, best of five rounds, in one run.

    .venv/bin/python bench/twilio_signature.py
"""

from __future__ import annotations

import time
from collections.abc import Callable

from multidict import MultiDict
from twilio.request_validator import RequestValidator

from bot.channels.twilio_common import TwilioWebhook

TOKEN = "0123456789abcdef0123456789abcdef"
URL = "https://chorus.example.org/webhooks/sms"
FORM = MultiDict(
    [
        ("ToCountry", "GB"), ("SmsMessageSid", "SM" + "a" * 32), ("NumMedia", "0"),
        ("SmsSid", "SM" + "a" * 32), ("SmsStatus", "received"), ("To", "+447700900000"),
        ("MessageSid", "SM" + "a" * 32), ("AccountSid", "AC" + "b" * 32),
        ("From", "+447700900101"), ("ApiVersion", "2010-04-01"), ("NumSegments", "1"),
        ("Body", "Physios in every GP surgery would cut waiting times"),
    ]
)  # fmt: skip
ROUNDS, CHECKS = 5, 20_000


def cpu_us(check: Callable[[], bool]) -> float:
    assert check()
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(CHECKS):
            check()
        best = min(best, (time.process_time() - started) / CHECKS * 1e6)
    return best


def main() -> None:
    validator = RequestValidator(TOKEN)
    signature = validator.compute_signature(URL, FORM)
    webhook = TwilioWebhook("sms", TOKEN, URL)
    before = cpu_us(lambda: validator.validate(URL, FORM, signature))
    now = cpu_us(lambda: webhook._signed(URL, FORM, signature))
    print(f"RequestValidator.validate alone:     {before:6.1f} CPU us a check")
    print(
        f"TwilioWebhook._signed (Chorus):      {now:6.1f} CPU us a check ({before / now:.1f}x less)"
    )


if __name__ == "__main__":
    main()
