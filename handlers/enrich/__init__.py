"""Text enrichment at ingestion: clean, redact personal data, detect language, score
sentiment and flag text for moderation — all before anything is stored.

INTERFACE CONTRACT (used by the engine; keep these names and fields):

    enricher = Enricher(languages=("en", "cy", "pl"), sentiment=SentimentSettings(...))
    result = enricher.enrich(text, social=False)
    result.text          # str: control characters stripped, personal data redacted
    result.redactions    # tuple[str, ...]: kinds found, e.g. ("phone", "email")
    result.language      # str | None: one of the configured languages, None when unsure
    result.polarity      # float | None (None when not scored)
    result.subjectivity  # float | None
    result.label         # "positive" | "neutral" | "negative" | "unscored"
    result.flagged       # str | None: moderation reason ("abuse", "named_person")
    result.confidence    # float | None: the label's calibrated probability (chorus only)

    clean_text(text) -> str   # control characters stripped, nothing else changed
"""

from handlers.enrich.pipeline import Enricher, Enrichment, clean_text

__all__ = ["Enricher", "Enrichment", "clean_text"]
