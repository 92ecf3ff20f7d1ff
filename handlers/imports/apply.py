"""Checking, enriching and storing the rows of an import, a batch per transaction.

Rows are enriched (redacted, language, sentiment, moderation) before a transaction opens,
so the store is held only for the SQL. A refused row never stops the others: it is
reported with its line number and reason, and the good rows are stored. A row already
imported (by an earlier run, or earlier in the same file) is counted, not stored again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from handlers.enrich import Enricher
from handlers.imports.rows import PaperRow, RowError, check_row
from handlers.privacy import Pseudonymizer
from handlers.settings import ConsultationConfig
from storage.database import Store
from storage.imports import PAPER_CHANNEL, PaperContribution, already_imported, store_paper_form

BATCH = 200


@dataclass
class ImportSummary:
    dry_run: bool = False
    rows: int = 0
    imported: int = 0  # stored now (or, in a dry run, that would be)
    repeated: int = 0  # imported before, or a repeat of an earlier row of the file
    held: int = 0  # stored but held for moderation
    refused: list[RowError] = field(default_factory=list)

    def line(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        held = f" ({self.held} held for moderation)" if self.held else ""
        return (
            f"{self.rows} rows: {verb} {self.imported}{held}, "
            f"{self.repeated} already imported, {len(self.refused)} refused"
            + (" (dry run: nothing stored)" if self.dry_run else "")
        )


@dataclass(frozen=True)
class Importer:
    store: Store
    config: ConsultationConfig
    enricher: Enricher
    pseudonyms: Pseudonymizer
    question_ids: dict[str, int]

    def form_key(self, row: PaperRow) -> str:
        """A keyed hash, so the mark left in the store names no form number or text."""
        return "#" + self.pseudonyms.pseudonym(f"{PAPER_CHANNEL}-form", row.key)[:40]

    def prepare(self, row: PaperRow) -> PaperContribution:
        enriched = self.enricher.enrich(row.text)
        key = self.form_key(row)
        return PaperContribution(
            key=key,
            pseudonym=self.pseudonyms.pseudonym(PAPER_CHANNEL, key),
            question_id=self.question_ids[row.question_key],
            answers=row.answers,
            worker_code=row.worker_code,
            written_at=row.written_at,
            text=enriched.text,
            language=enriched.language,
            polarity=enriched.polarity,
            subjectivity=enriched.subjectivity,
            sentiment_confidence=enriched.confidence,
            label=enriched.label,
            redactions=enriched.redactions,
            flagged=enriched.flagged,
        )


async def import_rows(
    importer: Importer,
    rows: Iterable[tuple[int, dict[str, str]]],
    *,
    now: datetime,
    dry_run: bool = False,
    on_row: Callable[[], None] | None = None,
    on_refused: Callable[[RowError], None] | None = None,
) -> ImportSummary:
    summary = ImportSummary(dry_run=dry_run)
    seen: set[str] = set()
    batch: list[PaperContribution] = []
    for line, fields in rows:
        summary.rows += 1
        checked = check_row(line, fields, importer.config, now)
        if isinstance(checked, RowError):
            summary.refused.append(checked)
            if on_refused:
                on_refused(checked)
        else:
            form = importer.prepare(checked)
            if form.key in seen:
                summary.repeated += 1
            else:
                seen.add(form.key)
                batch.append(form)
        if len(batch) >= BATCH:
            await _apply(importer.store, batch, summary, now, dry_run)
            batch = []
        if on_row:
            on_row()
    if batch:
        await _apply(importer.store, batch, summary, now, dry_run)
    return summary


async def _apply(
    store: Store, batch: list[PaperContribution], summary: ImportSummary, now: datetime, dry: bool
) -> None:
    if dry:
        async with store.reader() as unit:
            for form in batch:
                if await already_imported(unit, form.key):
                    summary.repeated += 1
                else:
                    summary.imported += 1
                    summary.held += bool(form.flagged)
        return
    stored = repeated = held = 0
    async with store.transaction() as unit:
        for form in batch:
            if await store_paper_form(unit, form, now) is None:
                repeated += 1
            else:
                stored += 1
                held += bool(form.flagged)
    # Counted only once the batch has committed.
    summary.imported += stored
    summary.repeated += repeated
    summary.held += held
