"""Paper forms stored as assisted contributions, each applied once.

Every form is one person (a participant with its own pseudonym, consent given on paper,
and the gateway answers ticked on the form) and one idea. A form is marked as imported in
processed_messages under its key (a keyed hash of its source id or of its content), so
importing the same file again stores nothing new, and a form whose writer was erased is
not brought back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.records import NewContribution, Profile
from storage.unit import Unit

PAPER_CHANNEL = "paper"


@dataclass(frozen=True)
class PaperContribution:
    """One form, enriched and ready to store."""

    key: str  # a keyed hash; the processed-message id and the contribution's message id
    pseudonym: str
    question_id: int
    answers: dict[str, str | None]
    worker_code: str | None
    written_at: datetime
    text: str
    language: str | None
    polarity: float | None
    subjectivity: float | None
    label: str
    redactions: tuple[str, ...]
    flagged: str | None
    sentiment_confidence: float | None = None


async def already_imported(unit: Unit, key: str) -> bool:
    return await unit.processed.seen(PAPER_CHANNEL, key)


async def store_paper_form(unit: Unit, form: PaperContribution, now: datetime) -> int | None:
    """Store one form in the open transaction; its contribution id, or None when this form
    was imported before."""
    if not await unit.processed.claim(PAPER_CHANNEL, form.key, now):
        return None
    person = await unit.participants.find(form.pseudonym)
    if person is None:
        person = await unit.participants.create(
            form.pseudonym, PAPER_CHANNEL, form.written_at, language=form.language
        )
    answers = {key: value for key, value in form.answers.items()}
    await unit.participants.update(
        person.id, consent_at=form.written_at, answers=answers, last_seen_at=form.written_at
    )
    saved = await unit.contributions.add(
        NewContribution(
            kind="idea",
            participant_id=person.id,
            text=form.text,
            channel=PAPER_CHANNEL,
            channel_message_id=form.key,
            label=form.label,
            created_at=form.written_at,
            question_id=form.question_id,
            language=form.language,
            polarity=form.polarity,
            subjectivity=form.subjectivity,
            sentiment_confidence=form.sentiment_confidence,
            redactions=form.redactions,
            status="pending" if form.flagged else "visible",
            moderation_reason=form.flagged,
            assisted=True,
            worker_code=form.worker_code,
            profile=Profile(
                role=answers.get("role"),
                region=answers.get("region"),
                age_band=answers.get("age_band"),
            ),
        )
    )
    return saved.id
