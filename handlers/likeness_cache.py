"""The ideas of each question kept ready for "is your idea like one of these?".

One `LikenessIndex` per question, in this process's memory, brought up to date from the
store at each look-up: the ideas stored since the last look-up (by any process) are read
by id and added, so a look-up costs one indexed query plus the index's own search. An
idea found alike is read again before it is offered, so one hidden, merged or erased
since it was indexed is dropped from the index and never offered; one still waiting for
moderation is kept but not offered until it is visible.
"""

from __future__ import annotations

import threading
from typing import Protocol

from handlers.likeness import FOLD_AFTER, MAX_ALIKE, LikenessIndex
from storage.records import ContributionRecord

# Ideas looked at per look-up, so a few no longer offerable still leave three to offer.
LOOK_AT = MAX_ALIKE * 3
# More new ideas than this since the last look-up (another process was busy): fit afresh.
REBUILD_AFTER = FOLD_AFTER


class IdeaReader(Protocol):
    def ideas_of_question(self, question_id: int, after_id: int) -> list[tuple[int, str]]: ...

    def contribution(self, contribution_id: int) -> ContributionRecord | None: ...


class LikenessCache:
    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._indexes: dict[int, LikenessIndex] = {}
        self._last_id: dict[int, int] = {}
        self._lock = threading.Lock()  # the writer's thread and a warming thread

    def refresh(self, reader: IdeaReader, question_id: int) -> LikenessIndex:
        """The question's index with every idea stored so far."""
        with self._lock:
            index = self._indexes.get(question_id)
            last = self._last_id.get(question_id, 0)
            new: list[tuple[int, str]] = []
            while page := reader.ideas_of_question(question_id, last):
                new += page
                last = page[-1][0]
            if new:
                self._last_id[question_id] = last
            if index is None:
                index = self._indexes[question_id] = LikenessIndex(new, self.threshold)
            elif len(new) > REBUILD_AFTER:
                index.rebuild([*index.ideas(), *new])  # many at once: one fit, not many folds
            else:
                for idea_id, text in new:
                    index.add(idea_id, text)
            return index

    def alike(
        self, reader: IdeaReader, question_id: int | None, text: str, *, limit: int = MAX_ALIKE
    ) -> tuple[ContributionRecord, ...]:
        """Up to `limit` visible ideas of the question like `text`, most alike first."""
        if question_id is None or not text.strip():
            return ()
        index = self.refresh(reader, question_id)
        offered: list[ContributionRecord] = []
        for found in index.find(text, LOOK_AT):
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
