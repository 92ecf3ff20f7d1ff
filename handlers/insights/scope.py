"""What part of the consultation a report covers, and the small argument language the
team uses for it in chat and on the command line.

    /top 5 ahp-action 7d      five ideas, question ahp-action, the last seven days
    /reach 2w                 the last two weeks (14 calendar days, today included)
    /summary 2026-12-01       since 1 December 2026 (UTC)

Arguments come in any order: a number (how many), a question key, a window of days
(`7d`) or weeks (`2w`), a start date (YYYY-MM-DD). The CLI has the same as
--question, --window and --since.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from storage.insights import Scope

_WINDOW = re.compile(r"^(\d{1,4})([dw])$", re.IGNORECASE)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_COUNT = 50


class ScopeError(ValueError):
    """An argument the team typed that means nothing here; the message says why."""


@dataclass(frozen=True)
class ReportScope:
    question_key: str | None = None
    since: date | None = None
    window: str | None = None  # as typed, e.g. "7d", for saying what the report covers

    def for_store(self, question_ids: Mapping[str, int]) -> Scope:
        question_id = question_ids.get(self.question_key) if self.question_key else None
        return Scope(question_id=question_id, since=self.since)

    def describe(self) -> str:
        parts = [f"question {self.question_key}" if self.question_key else "all questions"]
        if self.window:
            parts.append(f"last {window_words(self.window)} (since {self.since:%d %b %Y})")
        elif self.since:
            parts.append(f"since {self.since:%d %b %Y}")
        else:
            parts.append("all time")
        return ", ".join(parts)

    @classmethod
    def from_dict(cls, data: dict) -> ReportScope:
        since = data.get("since")
        return cls(
            question_key=data.get("question"),
            since=date.fromisoformat(since) if since else None,
            window=data.get("window"),
        )

    def as_dict(self) -> dict:
        return {
            "question": self.question_key,
            "since": self.since.isoformat() if self.since else None,
            "window": self.window,
        }


@dataclass(frozen=True)
class Arguments:
    scope: ReportScope = ReportScope()
    count: int | None = None
    words: tuple[str, ...] = field(default=())  # the command's own words (chart name...)


def window_start(window: str, today: date) -> date:
    match = _WINDOW.match(window.strip())
    if not match:
        raise ScopeError(f"{window!r} is not a window; use e.g. 7d (days) or 2w (weeks)")
    amount = int(match[1]) * (7 if match[2].lower() == "w" else 1)
    if amount < 1:
        raise ScopeError("a window needs at least one day")
    return today - timedelta(days=amount - 1)


def window_words(window: str) -> str:
    match = _WINDOW.match(window)
    if not match:
        return window
    amount, unit = int(match[1]), "day" if match[2].lower() == "d" else "week"
    return f"{amount} {unit}{'s' if amount != 1 else ''}"


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ScopeError(f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2026-12-01") from None


def make_scope(
    *,
    question: str | None,
    window: str | None,
    since: str | None,
    questions: Collection[str],
    today: date,
) -> ReportScope:
    if question is not None and question not in questions:
        known = ", ".join(sorted(questions)) or "none"
        raise ScopeError(f"there is no question {question!r}; questions: {known}")
    if window and since:
        raise ScopeError("give a window (7d) or a start date, not both")
    start = window_start(window, today) if window else parse_date(since) if since else None
    return ReportScope(
        question_key=question, since=start, window=window.lower() if window else None
    )


def parse_arguments(
    tokens: Sequence[str],
    *,
    questions: Collection[str],
    today: date,
    words: Collection[str] = (),
    takes_count: bool = False,
) -> Arguments:
    """Read chat arguments; raises ScopeError naming the first one that makes no sense."""
    question = window = since = None
    count: int | None = None
    own: list[str] = []
    for token in tokens:
        folded = token.lower()
        if folded in words:
            own.append(folded)
        elif token.isdigit() and takes_count and count is None:
            count = int(token)
            if not 1 <= count <= MAX_COUNT:
                raise ScopeError(f"ask for 1 to {MAX_COUNT} ideas")
        elif _WINDOW.match(token) and window is None:
            window = folded
        elif _DATE.match(token) and since is None:
            since = token
        elif token in questions and question is None:
            question = token
        else:
            raise ScopeError(_unknown(token, questions, words, takes_count))
    scope = make_scope(
        question=question, window=window, since=since, questions=questions, today=today
    )
    return Arguments(scope=scope, count=count, words=tuple(own))


def _unknown(
    token: str, questions: Collection[str], words: Collection[str], takes_count: bool
) -> str:
    expected = []
    if words:
        expected.append(" or ".join(sorted(words)))
    if takes_count:
        expected.append("a number")
    expected += ["a question (" + ", ".join(sorted(questions)) + ")", "7d", "2w", "YYYY-MM-DD"]
    return f"I did not understand {token!r}; expected " + ", ".join(expected)
