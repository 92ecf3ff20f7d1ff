"""The per-question index behind "Is your idea like one of these?": ideas stored since
the last look-up are picked up, and ideas hidden, merged or erased since are not offered
(nor kept), while one waiting for moderation is kept but not offered."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.likeness_cache import LikenessCache


@dataclass
class Idea:
    id: int
    text: str
    status: str = "visible"
    duplicate_of: int | None = None
    kind: str = "idea"
    participant_id: int = 1


class Reader:
    def __init__(self) -> None:
        self.ideas: dict[int, Idea] = {}
        self.queries = 0

    def ideas_of_question(
        self, question_id: int, after_id: int, limit: int = 50_000
    ) -> list[tuple[int, str]]:
        self.queries += 1
        return [(i, idea.text) for i, idea in sorted(self.ideas.items()) if i > after_id][:limit]

    def contribution(self, contribution_id: int) -> Idea | None:
        return self.ideas.get(contribution_id)


def test_new_ideas_are_found_and_gone_ones_never_offered() -> None:
    reader, cache = Reader(), LikenessCache(0.56)
    reader.ideas[1] = Idea(1, "Free parking at hospitals for carers")
    assert [i.id for i in cache.alike(reader, 7, "free parking for carers at hospitals")] == [1]
    reader.ideas[2] = Idea(2, "Free parking at hospitals for carers and staff")
    reader.ideas[3] = Idea(3, "Evening x-ray clinics for people who work")
    found = cache.alike(reader, 7, "free parking for carers at hospitals")
    assert sorted(i.id for i in found) == [1, 2]
    reader.ideas[1].status = "hidden"
    reader.ideas[2].status = "pending"
    assert cache.alike(reader, 7, "free parking for carers at hospitals") == ()
    reader.ideas[2].status = "visible"  # moderated since: offered again
    assert [i.id for i in cache.alike(reader, 7, "free parking for carers at hospitals")] == [2]
    del reader.ideas[2]  # erased
    assert cache.alike(reader, 7, "free parking for carers at hospitals") == ()
    assert cache.alike(reader, 7, "No free parking at hospitals for carers") == ()
    assert cache.alike(reader, None, "anything") == ()


def test_a_growing_index_is_fitted_afresh_away_from_the_look_ups() -> None:
    """An index that has doubled is refitted by a job handed to `refit_in` (a thread in
    the server), not in the look-up; until the job is done the old index serves, and the
    new one takes over with the ideas added and removed meanwhile."""
    jobs: list = []
    reader, cache = Reader(), LikenessCache(0.56, refit_in=jobs.append)
    reader.ideas[1] = Idea(1, "Free parking at hospitals for carers")
    cache.alike(reader, 7, "anything at all")
    reader.ideas[2] = Idea(2, "Evening x-ray clinics for people who work")
    found = cache.alike(reader, 7, "evening x-ray clinics for working people")
    assert [i.id for i in found] == [2]  # found before any refit: the old index serves
    assert len(jobs) == 1
    before = cache._indexes[7]
    reader.ideas[3] = Idea(3, "Physiotherapy by video call for people far away")
    cache.alike(reader, 7, "physiotherapy by video call")  # added while the job waits
    del reader.ideas[1]
    cache.alike(reader, 7, "free parking at hospitals for carers")  # 1 gone: dropped
    assert len(jobs) == 1  # one refit at a time
    jobs.pop()()
    after = cache._indexes[7]
    assert after is not before
    assert sorted(idea for idea, _text in after.ideas()) == [2, 3]
    assert [i.id for i in cache.alike(reader, 7, "physiotherapy by video call")] == [3]
    assert cache.alike(reader, 7, "free parking at hospitals for carers") == ()
