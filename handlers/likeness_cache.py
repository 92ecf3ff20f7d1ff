"""The ideas of each question kept ready for "is your idea like one of these?".

One `LikenessIndex` per question, in this process's memory, brought up to date from the
store at each look-up: the ideas stored since the last look-up (by any process) are read
by id and added, so a look-up costs one indexed query plus the index's own search. An
idea found alike is read again before it is offered, so one hidden, merged or erased
since it was indexed is dropped from the index and never offered; one still waiting for
moderation is kept but not offered until it is visible.

Building a large question's index takes seconds (10 to 40 at 100,000 ideas), so the
server builds the open questions' indexes in the background after it listens
(handlers/likeness_warming.py: `begin_warming`, then `install`). Until a question's index
is installed, a look-up for it finds nothing (the idea is stored without the offer)
unless the question is small enough to build at once; the writer never waits for a
build elsewhere. Likewise an index that has doubled since it was fitted (below 2,000
ideas, handlers/likeness.py) is fitted afresh in a thread of its own, the old one serving
meanwhile, then swapped in with the ideas added and removed since.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Protocol

from handlers.enrich.model import Scored
from handlers.likeness import FOLD_AFTER, MAX_ALIKE, LikenessIndex
from storage.records import ContributionRecord

log = logging.getLogger(__name__)

# Ideas looked at per look-up, so a few no longer offerable still leave three to offer.
LOOK_AT = MAX_ALIKE * 3
# More new ideas than this since the last look-up (another process was busy): fit afresh.
REBUILD_AFTER = FOLD_AFTER
# A question still warming is indexed at its first look-up if it has at most this many
# ideas (a fit of about 40 ms, within the look-up budget), else it gets no offer yet.
BUILD_AT_ONCE = 500
PAGE = 50_000  # ideas read per query


class IdeaReader(Protocol):
    def ideas_of_question(
        self, question_id: int, after_id: int, limit: int = PAGE
    ) -> list[tuple[int, str]]: ...

    def contribution(self, contribution_id: int) -> ContributionRecord | None: ...


def in_background(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="chorus-alike-refit", daemon=True).start()


class LikenessCache:
    def __init__(
        self, threshold: float, refit_in: Callable[[Callable[[], None]], None] = in_background
    ) -> None:
        self.threshold = threshold
        # Where a growing index is fitted afresh (`_refit`): not in the writer's thread,
        # which it held a quarter of a second at 2,000 ideas, every message waiting.
        self._refit_in = refit_in
        self._refitting: set[int] = set()
        self._indexes: dict[int, LikenessIndex] = {}
        self._last_id: dict[int, int] = {}
        self._warming: set[int] = set()  # questions whose index is being built elsewhere
        # Guards the maps above and every change to an installed index: the writer's
        # thread looks up and adds; the warming (on the event loop's thread) installs
        # what it had built elsewhere, and never touches an index once installed.
        self._lock = threading.Lock()

    def begin_warming(self, question_ids: Iterable[int]) -> list[int]:
        """Mark the questions not yet indexed as being built elsewhere (`install`);
        returns those marked."""
        with self._lock:
            marked = [q for q in question_ids if q not in self._indexes]
            self._warming.update(marked)
            return marked

    def install(self, question_id: int, index: LikenessIndex, last_id: int) -> bool:
        """A question's index built by the warming, holding its ideas up to
        `last_id`; the look-ups catch up from there. False if the writer built one at
        once meanwhile (a small question), which is kept."""
        with self._lock:
            self._warming.discard(question_id)
            if question_id in self._indexes:
                return False
            self._indexes[question_id] = index
            self._last_id[question_id] = last_id
            return True

    def abandon(self, question_id: int) -> None:
        """The warming failed: the first look-up builds the index instead."""
        with self._lock:
            self._warming.discard(question_id)

    def is_warming(self, question_id: int) -> bool:
        with self._lock:
            return question_id in self._warming

    def refresh(self, reader: IdeaReader, question_id: int) -> LikenessIndex | None:
        """The question's index with every idea stored so far; None while the warming
        builds it and it is too large to build here at once. An index that has doubled
        since it was fitted is fitted afresh elsewhere (`refit_in`), this one serving
        until then."""
        index, refit = self._refreshed(reader, question_id)
        if refit is not None:
            self._refit_in(refit)
        return index

    def _refreshed(
        self, reader: IdeaReader, question_id: int
    ) -> tuple[LikenessIndex | None, Callable[[], None] | None]:
        with self._lock:
            index = self._indexes.get(question_id)
            last = self._last_id.get(question_id, 0)
            if index is None and question_id in self._warming:
                page = reader.ideas_of_question(question_id, 0, BUILD_AT_ONCE + 1)
                if len(page) > BUILD_AT_ONCE:
                    return None, None
            new: list[tuple[int, str]] = []
            while page := reader.ideas_of_question(question_id, last, PAGE):
                new += page
                last = page[-1][0]
                if len(page) < PAGE:  # the last page: no need to ask for an empty one
                    break
            if new:
                self._last_id[question_id] = last
            if index is None:
                index = self._indexes[question_id] = LikenessIndex(new, self.threshold)
            elif len(new) > REBUILD_AFTER:
                index.rebuild([*index.ideas(), *new])  # many at once: one fit, not many folds
            else:
                for idea_id, text in new:
                    index.add(idea_id, text, refit=False)
                if index.refit_due and question_id not in self._refitting:
                    self._refitting.add(question_id)
                    ideas = index.ideas()
                    return index, lambda: self._refit(question_id, ideas)
            return index, None

    def _refit(self, question_id: int, ideas: list[tuple[int, str]]) -> None:
        """Fit the question's index afresh on `ideas` (away from the writer), then put it
        in place of the one in use, with what was added and removed meanwhile."""
        try:
            fresh = LikenessIndex(ideas, self.threshold)
        except Exception:  # the index in use carries on as it is
            log.exception("refitting the alike index of question %s failed", question_id)
            with self._lock:
                self._refitting.discard(question_id)
            return
        with self._lock:
            self._refitting.discard(question_id)
            current = self._indexes.get(question_id)
            if current is None:
                return
            held = dict(current.ideas())
            fitted = {idea for idea, _text in ideas}
            for idea in fitted - held.keys():
                fresh.remove(idea)
            for idea, text in held.items():
                if idea not in fitted:
                    fresh.add(idea, text, refit=False)
            self._indexes[question_id] = fresh

    def alike(
        self,
        reader: IdeaReader,
        question_id: int | None,
        text: str,
        *,
        limit: int = MAX_ALIKE,
        scored: Scored | None = None,
    ) -> tuple[ContributionRecord, ...]:
        """Up to `limit` visible ideas of the question like `text`, most alike first;
        none while the question's index is still warming (the idea is then stored
        without the offer rather than keep every message waiting for the build).
        `scored`: as `LikenessIndex.find`'s."""
        if question_id is None or not text.strip():
            return ()
        index = self.refresh(reader, question_id)
        if index is None:
            return ()
        offered: list[ContributionRecord] = []
        for found in index.find(text, LOOK_AT, scored=scored):
            idea = reader.contribution(found.idea_id)
            if (
                idea is None
                or idea.status not in ("visible", "pending")
                or idea.duplicate_of is not None
            ):
                with self._lock:
                    index.remove(found.idea_id)
                continue
            if idea.status != "visible":
                continue
            offered.append(idea)
            if len(offered) == limit:
                break
        return tuple(offered)
