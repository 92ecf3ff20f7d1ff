"""The printable paper form (GET /take-part/print) for events and people offline.

One A4 page per person: the consultation's question, the privacy notice, a consent box,
the gateway questions with tick boxes and room to write the idea. Every part is labelled
with the column it goes in when a community worker types the forms into a spreadsheet for
`chorus import`, so the sheet's headers and the paper agree.
"""

from __future__ import annotations

import functools
from datetime import datetime

from jinja2 import Environment, PackageLoader, select_autoescape

from handlers.imports import FIELDS
from handlers.settings import ConsultationConfig

TEMPLATE = "paper_form.html"
WRITING_LINES = 12


@functools.cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("bot", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_paper_form(config: ConsultationConfig, now: datetime) -> str:
    """The form as HTML, for the questions open now (or, if none is, all of them)."""
    questions = config.open_questions(now) or list(config.questions)
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            name=config.consultation.name,
            questions=questions,
            privacy_notice=config.consultation.privacy_notice,
            gateway=[g for g in config.gateway if g.key in FIELDS],
            limit=config.consultation.max_text_length,
            lines=WRITING_LINES,
            fields=FIELDS,
        )
    )
