"""The likeness finder behind "is your idea like one of these?": the similar-ideas
measure and threshold, at most three ideas, most alike first, never an idea's opposite,
and the same answers from the inverted index as from comparing with every idea."""

from __future__ import annotations

import numpy as np
import pytest

import handlers.likeness as likeness
from handlers.insights.opposites import are_opposite
from handlers.likeness import LikenessIndex, find_alike
from handlers.settings import InsightsSettings

THRESHOLD = InsightsSettings().similar_threshold
IDEAS = [
    (1, "More physiotherapists in GP practices"),
    (2, "Put physiotherapists in every GP practice"),
    (3, "Free parking for carers at hospitals"),
    (4, "Physiotherapists in GP practices would cut waiting times"),
    (5, "Physios in GP practices"),
    (6, "Less physiotherapists in GP practices"),
    (7, "No physiotherapists in GP practices"),
    (8, "Text reminders for podiatry appointments"),
]


def test_alike_ideas_most_alike_first_and_at_most_three() -> None:
    alike = find_alike("More physiotherapists in GP practices please", IDEAS, THRESHOLD)
    assert [a.idea_id for a in alike][:1] == [1]
    assert len(alike) <= 3 and all(a.similarity >= THRESHOLD for a in alike)
    assert [a.similarity for a in alike] == sorted((a.similarity for a in alike), reverse=True)
    assert 3 not in [a.idea_id for a in alike] and 8 not in [a.idea_id for a in alike]
    assert find_alike("Train radiographers in Wales", IDEAS, THRESHOLD) == []


def test_an_idea_and_its_opposite_are_not_offered_as_alike() -> None:
    # "less" and "no" share nearly every letter with "more", but not the meaning.
    alike = [a.idea_id for a in find_alike("More physiotherapists in GP practices", IDEAS, 0.5)]
    assert 1 in alike and 6 not in alike and 7 not in alike
    fewer = [a.idea_id for a in find_alike("Fewer physiotherapists in GP practices", IDEAS, 0.5)]
    assert 6 in fewer and 1 not in fewer  # fewer = less: offered; more: not


@pytest.mark.parametrize(
    ("first", "second", "opposite"),
    [
        ("More physios in GP surgeries", "Less physios in GP surgeries", True),
        ("More physios in GP surgeries", "Fewer physios in GP surgeries", True),
        ("Nothing about the clinic should change", "Everything about the clinic should change",
         True),
        ("Physios in every GP surgery", "No physios in GP surgeries", True),
        ("Parking should be free", "Parking should not be free", True),
        ("Always offer a follow-up call", "Never offer a follow-up call", True),
        ("Longer appointments for people with dementia", "Shorter appointments for people "
         "with dementia", True),
        ("More physios in GP surgeries", "More physiotherapists in GP practices", False),
        ("Stop the long waits for physio", "Cut the long waits for physio", False),
        ("No more long waits for scans", "Never wait long for scans again", False),
        ("Fewer forms to fill in", "Less paperwork and fewer forms", False),
    ],
)  # fmt: skip
def test_the_opposites_guard(first: str, second: str, opposite: bool) -> None:
    assert are_opposite(first, second) is opposite
    assert are_opposite(second, first) is opposite


def test_the_index_answers_as_comparing_with_every_idea_would() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    rng = np.random.default_rng(3)
    words = [
        "physio",
        "clinic",
        "waiting",
        "times",
        "carers",
        "parking",
        "free",
        "home",
        "visits",
        "stroke",
        "rehab",
    ]
    texts = [" ".join(rng.choice(words, size=int(rng.integers(3, 7)))) for _ in range(400)]
    ideas = list(enumerate(texts, start=100))
    index = LikenessIndex(ideas, 0.3)
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True,
                                 dtype=np.float32)  # fmt: skip
    matrix = vectorizer.fit_transform(texts)
    for query in texts[:40]:
        cosines = (matrix @ vectorizer.transform([query]).T).toarray().ravel()
        found = index.find(query, limit=len(texts))
        expected = {
            100 + row
            for row in np.flatnonzero(cosines >= 0.3 - 1e-6)
            if not are_opposite(query, texts[row])
        }
        assert {a.idea_id for a in found} == expected
        for alike in found:
            assert alike.similarity == pytest.approx(cosines[alike.idea_id - 100], abs=1e-4)


def test_a_new_text_of_unseen_words_is_not_like_an_idea_it_shares_suffixes_with() -> None:
    """Its n-grams that no idea holds count in its length: "Prays profitabilities ..."
    shares "ies", "ful", "pra" and little else with the one idea stored (0.33 by the
    similar-ideas job's measure); the index once put it at 0.6, over the threshold."""
    index = LikenessIndex([], THRESHOLD)
    index.add(1, "Honorariums celebrates merrymakers worshipfully adorable")
    index.add(2, "Devotedly liberties gratefully praised happier benignant accomplished")
    text = "Prays profitabilities godsend idealists securer positiver successfully ready"
    assert index.find(text) == []
    assert [a.idea_id for a in index.find("Devotedly liberties gratefully praised")] == [2]


def test_a_growing_index_is_refitted_so_new_words_match() -> None:
    """Ideas whose words the first ideas never used are found alike once the index has
    doubled and been fitted afresh (below REFIT_UNTIL ideas)."""
    index = LikenessIndex(IDEAS, THRESHOLD)
    for n, text in enumerate(("Weekend rehab after a stroke", "Home visits after a stroke",
                              "Weekend rehab sessions after a stroke"), start=30):  # fmt: skip
        index.add(n, text)
        found = [a.idea_id for a in index.find("Weekend rehab after stroke")]
        assert 30 in found  # scored among the added ideas, then after refits
    for n in range(40, 40 + len(IDEAS)):
        index.add(n, f"Idea number {n} about podiatry clinics")
    assert len(index._ids) > len(IDEAS)  # doubled, so fitted afresh with the new words
    assert len(index) == len(IDEAS) + 3 + len(IDEAS)
    assert [a.idea_id for a in index.find("Weekend rehab after stroke")][:2] == [30, 32]


def test_added_and_removed_ideas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(likeness, "FOLD_AFTER", 3)
    monkeypatch.setattr(likeness, "REFIT_UNTIL", 0)  # a large index: folded, not refitted
    index = LikenessIndex(IDEAS, THRESHOLD)
    index.add(20, "Text reminders for physio appointments")
    assert [a.idea_id for a in index.find("Text reminders for physio appointments")][:1] == [20]
    index.remove(20)
    assert 20 not in [a.idea_id for a in index.find("Text reminders for physio appointments")]
    index.remove(1)
    assert 1 not in [a.idea_id for a in index.find("More physiotherapists in GP practices")]
    for n, text in enumerate(("Physios in GP practices at weekends", "Text reminders for GP "
                              "appointments", "Physios in GP practices on weekends"),
                             start=30):  # fmt: skip
        index.add(n, text)  # the third folds them into the index
    assert not index._pending and len(index) == len(IDEAS) - 1 + 3
    assert [a.idea_id for a in index.find("Physios in GP practices at weekends")][:2] == [30, 32]
    assert 1 not in [a.idea_id for a in index.find("More physiotherapists in GP practices")]


def test_empty_cases() -> None:
    assert find_alike("Anything", [], THRESHOLD) == []
    assert find_alike("   ", IDEAS, THRESHOLD) == []
    index = LikenessIndex([], THRESHOLD)
    index.add(1, "Physios in GP practices")
    assert [a.idea_id for a in index.find("Physios in GP practices")] == [1]


def test_ideas_added_since_the_build_score_as_the_sparse_product_does() -> None:
    """Pending ideas are scored in one vectorised pass over their n-grams laid end to end
    (extended as each is added, not rebuilt): the same cosines as the sparse product of
    their rows, through adds and removals."""
    rng = np.random.default_rng(3)
    words = ["physio", "clinic", "parking", "carers", "evening", "weekend", "podiatry",
             "reminders", "waiting", "times", "home", "visits", "mental", "health"]  # fmt: skip
    index = LikenessIndex(IDEAS, THRESHOLD)
    for number in range(200):
        text = " ".join(rng.choice(words, size=int(rng.integers(1, 6))))
        index.add(100 + number, text)
        if number % 37 == 36:
            index.remove(100 + number - 5)
        if not index._pending:  # refitted: nothing pending until the next add
            continue
        query_text = " ".join(rng.choice(words, size=3))
        columns, weights = index.vector(query_text)
        from scipy.sparse import csr_matrix

        query = csr_matrix((weights, columns, [0, len(columns)]), shape=(1, len(index._vocabulary)))
        expected = (index._pending_rows() @ query.T).toarray().ravel()
        np.testing.assert_allclose(index._pending_scores(columns, weights), expected, atol=1e-6)


def test_built_ideas_score_as_the_sparse_product_does() -> None:
    """A look-up gathers the postings of its n-grams in one vectorised pass: the same
    ideas and cosines as the sparse product of the query with the inverted index,
    n-grams the build never saw included (they are past its columns)."""
    rng = np.random.default_rng(5)
    words = ["physio", "clinic", "parking", "carers", "evening", "weekend", "podiatry",
             "reminders", "waiting", "times", "home", "visits", "mental", "health"]  # fmt: skip
    ideas = [(n, " ".join(rng.choice(words, size=int(rng.integers(2, 7))))) for n in range(300)]
    index = LikenessIndex(ideas, THRESHOLD)
    from scipy.sparse import csr_matrix

    for query_text in ["physio clinic", "evening weekend carers zebra", "qqq", "home visits"]:
        columns, weights = index.vector(query_text)
        indexed = columns < index._postings.shape[0]
        query = csr_matrix(
            (weights[indexed], columns[indexed], [0, int(indexed.sum())]),
            shape=(1, index._postings.shape[0]),
        )
        expected = (query @ index._postings).toarray().ravel()
        rows, cosines = index._indexed_scores(columns, weights)
        np.testing.assert_array_equal(rows, np.flatnonzero(expected))
        np.testing.assert_allclose(cosines, expected[rows], atol=1e-6)
    assert len(index._indexed_scores(*index.vector("qqq"))[0]) == 0


def test_a_text_looked_up_then_added_is_analysed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    index = LikenessIndex(IDEAS, THRESHOLD)
    analysed: list[str] = []
    analyse = index._analyse
    monkeypatch.setattr(index, "_analyse", lambda text: analysed.append(text) or analyse(text))
    index.find("More evening physio clinics")
    index.find("Free parking for carers")
    before = index.vector("More evening physio clinics")  # looked up again: not analysed
    index.add(900, "More evening physio clinics")
    index.add(901, "Free parking for carers")
    assert analysed == ["More evening physio clinics", "Free parking for carers"]
    assert [r.idea_id for r in index.find("More evening physio clinics")][:1] == [900]
    assert len(before[0]) > 0


def test_a_known_score_of_the_new_text_is_used_not_scored_again() -> None:
    """The opposite check takes the new text's sentiment from its caller when given (an
    idea's enrichment), instead of scoring it again."""
    from handlers.enrich.model import Scored
    from handlers.insights.opposites import opposite_sentiment

    praise, complaint = "The staff were wonderful and kind", "The staff were rude and unhelpful"
    assert opposite_sentiment(praise, complaint)
    said_negative = Scored("negative", 0.9, -0.8)
    assert not opposite_sentiment(praise, complaint, a_scored=said_negative)


async def test_an_ideas_alike_look_up_does_not_score_it_again(
    engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The idea was scored by its enrichment, before it queued: the writer's opposite
    check reuses that score and scores only the ideas it is compared with."""
    import handlers.insights.opposites as opposites
    from tests.people import Person

    amira, ben = Person(engine, "amira-alike"), Person(engine, "ben-alike")
    for person in (amira, ben):
        await person.join()
    await amira.say("idea More physiotherapists in GP practices")
    real, scored = opposites._sentiment, []

    def spying(text: str):
        scored.append(text)
        return real(text)

    monkeypatch.setattr(opposites, "_sentiment", spying)
    await ben.say("idea More physiotherapists in GP practices please")
    assert ben.keys[0] == "alike_ask"
    assert scored == ["More physiotherapists in GP practices"]
