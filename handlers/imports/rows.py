"""One row of a paper-form import, checked against the consultation.

A row's fields (only `text` is required):
- `question`: a question's key or its full text; empty means the question open on the
  row's date;
- `role`, `region`, `age_band`: an option of that gateway question in config.yaml, by key,
  label or short label (any case); empty, "prefer not to say" or "skip" means not given;
- `worker_code`: the community worker who typed the form in;
- `date`: when it was written (2026-12-01, 01/12/2026, or a date-time); empty means now;
- `source_id`: the form's own number. Importing a file again skips a row whose source id
  (or, without one, whose whole content) was imported before.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, time

from handlers.settings import ConsultationConfig, GatewayQuestion, QuestionSettings

FIELDS = ("question", "text", "role", "region", "age_band", "worker_code", "date", "source_id")
PROFILE_FIELDS = ("role", "region", "age_band")
NOT_SAYING = frozenset({"prefer not to say", "skip", "not given", "n/a", "-"})
MAX_WORKER_CODE = 32
MAX_SOURCE_ID = 200
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y", "%d.%m.%Y", "%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class PaperRow:
    line: int
    key: str  # what marks this row as imported: its source id, else a hash of its fields
    text: str
    question_key: str
    answers: dict[str, str | None]  # gateway question key -> option key
    worker_code: str | None
    written_at: datetime


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str


def row_key(fields: dict[str, str]) -> str:
    source = fields.get("source_id", "").strip()
    if source:
        return "source:" + source
    content = json.dumps({f: fields.get(f, "").strip() for f in FIELDS}, sort_keys=True)
    return "row:" + hashlib.sha256(content.encode("utf-8")).hexdigest()


def _option(question: GatewayQuestion, value: str) -> str | None:
    wanted = value.strip().casefold()
    for option in question.all_options():
        names = (option.key, option.label, option.short or "")
        if any(wanted == name.casefold() for name in names if name):
            return option.key
    return None


def _question(
    config: ConsultationConfig, value: str, written_at: datetime
) -> QuestionSettings | str:
    wanted = " ".join(value.split()).casefold()
    if wanted:
        for question in config.questions:
            if wanted in (question.key.casefold(), " ".join(question.text.split()).casefold()):
                return question
        keys = ", ".join(q.key for q in config.questions)
        return f"question {value!r} is not a question of this consultation ({keys})"
    open_then = config.open_questions(written_at)
    if not open_then:
        return f"no question was open on {written_at.date()}; give the question column"
    return open_then[0]


def _date(value: str, now: datetime) -> datetime | str:
    value = value.strip()
    if not value:
        return now
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        for form in _DATE_FORMATS:
            try:
                parsed = datetime.strptime(value, form)
                break
            except ValueError:
                continue
    if parsed is None:
        return f"date {value!r} is not a date like 2026-12-01 or 01/12/2026"
    if parsed.tzinfo is None:
        if parsed.time() == time.min:
            parsed = parsed.replace(hour=12)  # a bare date: midday, so no zone moves its day
        parsed = parsed.replace(tzinfo=UTC)
    if parsed > now:
        return f"date {value!r} is in the future"
    return parsed.astimezone(UTC)


def check_row(
    line: int, fields: dict[str, str], config: ConsultationConfig, now: datetime
) -> PaperRow | RowError:
    """The row ready to store, or why it cannot be (the first problem found)."""
    text = fields.get("text", "").strip()
    if not text:
        return RowError(line, "the text is empty")
    limit = config.consultation.max_text_length
    if len(text) > limit:
        return RowError(line, f"the text is {len(text):,} characters; the limit is {limit:,}")
    written_at = _date(fields.get("date", ""), now)
    if isinstance(written_at, str):
        return RowError(line, written_at)
    question = _question(config, fields.get("question", ""), written_at)
    if isinstance(question, str):
        return RowError(line, question)
    answers: dict[str, str | None] = {}
    for key in PROFILE_FIELDS:
        value = fields.get(key, "").strip()
        gateway = config.gateway_question(key)
        if not value or value.casefold() in NOT_SAYING:
            answers[key] = None
            continue
        option = _option(gateway, value) if gateway else None
        if option is None:
            known = ", ".join(o.key for o in gateway.all_options()) if gateway else "none"
            return RowError(line, f"{key} {value!r} is not an option (keys: {known})")
        answers[key] = option
    worker = fields.get("worker_code", "").strip() or None
    if worker and len(worker) > MAX_WORKER_CODE:
        return RowError(line, f"worker_code is longer than {MAX_WORKER_CODE} characters")
    if len(fields.get("source_id", "").strip()) > MAX_SOURCE_ID:
        return RowError(line, f"source_id is longer than {MAX_SOURCE_ID} characters")
    return PaperRow(
        line=line,
        key=row_key(fields),
        text=text,
        question_key=question.key,
        answers=answers,
        worker_code=worker,
        written_at=written_at,
    )
