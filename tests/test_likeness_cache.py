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
