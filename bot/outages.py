"""A provider's outage, logged once: the first failure is one WARNING line without a
traceback, repeats are DEBUG, and the recovery one INFO line. While it lasts, `waiting`
holds the reason, for /healthz.

A 5xx from a proxy in front of a provider often carries an HTML page; the reason keeps
the status and says the answer was not JSON, never the page itself.
"""

from __future__ import annotations

import logging
import re

MAX_REASON = 160
_NOT_JSON = re.compile(r"\.?\s*Parsing the server response .* failed", re.DOTALL)


def describe(error: BaseException | str) -> str:
    """One short line saying what went wrong."""
    text = str(error).strip()
    text, replaced = _NOT_JSON.subn("", text)
    if replaced:
        text = f"{text}, and the answer was not JSON" if text else "the answer was not JSON"
    elif text.startswith("Invalid server response"):
        text = "the answer was not JSON"
    line = text.splitlines()[0] if text else type(error).__name__
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 3] + "..."


class Outage:
    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.log = logger
        self.what = what
        self.waiting: str | None = None
        self.failures = 0

    def failed(self, error: BaseException | str) -> None:
        reason = describe(error)
        self.failures += 1
        if self.waiting is None:
            self.log.warning("%s failed: %s; retrying quietly until it answers", self.what, reason)
        else:
            self.log.debug("%s failed again (%d): %s", self.what, self.failures, reason)
        self.waiting = reason

    def recovered(self) -> None:
        if self.waiting is not None:
            self.log.info("%s answers again after %d failures", self.what, self.failures)
        self.waiting, self.failures = None, 0
