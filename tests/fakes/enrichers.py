"""An enricher with a bug: the real one, except that it raises on one word, standing in
for any fault in an analyser (the message with that word must fail alone)."""

from __future__ import annotations

from handlers.enrich import Enricher, Enrichment


class FailingOnWord:
    def __init__(self, real: Enricher, word: str) -> None:
        self.real = real
        self.word = word

    def enrich(self, text: str, social: bool = False) -> Enrichment:
        if self.word in text:
            raise RuntimeError("enrichment crashed on this text")
        return self.real.enrich(text, social=social)

    def enrich_many(self, texts: list[str], social: bool = False) -> list[Enrichment]:
        return [self.enrich(text, social=social) for text in texts]  # raises as the real one
