"""Near-duplicate ideas: the threshold justified on a labelled set of idea pairs, the
background search, and a moderator merging a pair from the list with one button."""

from __future__ import annotations

import numpy as np
import pytest

from bot.jobs import JobRunner
from handlers.engine import Engine
from handlers.insights.opposites import are_opposite
from handlers.insights.similar import similar_pairs, similarity_matrix
from handlers.settings import InsightsSettings
from tests.conftest import insights_settings
from tests.insights_data import (
    MODERATOR,
    RecordingChannel,
    add_ideas,
    services_of,
    team_member,
)

# Pairs a moderator would merge: the same suggestion in other words.
SAME = [
    (
        "Physios in every GP surgery would cut waiting times",
        "Put physiotherapists in GP practices to reduce waits",
    ),
    (
        "Let patients refer themselves to physiotherapy",
        "Allow self-referral to physio without seeing a GP",
    ),
    ("More weekend rehab sessions", "Rehab sessions at weekends as well as weekdays"),
    (
        "Longer appointments for people with dementia",
        "People with dementia need longer appointment slots",
    ),
    ("Pay for AHP students' placements", "Fund placements for allied health students"),
    ("Paramedics should be able to prescribe painkillers", "Let paramedics prescribe pain relief"),
    ("Dietitians in every diabetes clinic", "Every diabetes clinic should have a dietitian"),
    ("Text message reminders for appointments", "Send appointment reminders by text"),
    ("Free parking for patients at hospitals", "Hospital parking should be free for patients"),
    (
        "More speech and language therapists in schools",
        "Schools need more speech and language therapists",
    ),
    ("Video appointments for follow-ups", "Follow-up appointments by video call"),
    ("Shorter waiting lists for MRI scans", "Cut the waiting list for MRI scans"),
]
# Pairs that share words or a topic but ask for different things.
DIFFERENT = [
    ("Physios in every GP surgery would cut waiting times", "More weekend rehab sessions"),
    ("Let patients refer themselves to physiotherapy", "Let paramedics prescribe pain relief"),
    ("Longer appointments for people with dementia", "Video appointments for follow-ups"),
    ("Pay for AHP students' placements", "Free parking for patients at hospitals"),
    ("Dietitians in every diabetes clinic", "More speech and language therapists in schools"),
    ("Text message reminders for appointments", "Longer appointments for people with dementia"),
    ("Shorter waiting lists for MRI scans", "Physios in every GP surgery would cut waiting times"),
    ("Free parking for patients at hospitals", "Free prescriptions for carers"),
    ("More speech and language therapists in schools",
     "More occupational therapists in care homes"),
    ("Fund placements for allied health students",
     "Fund more training posts for radiographers"),
    ("Every diabetes clinic should have a dietitian",
     "Every stroke ward should have a speech therapist"),
    ("Send appointment reminders by text", "Send test results by text"),
    ("Cut the waiting list for MRI scans", "Cut the waiting list for hip operations"),
    ("Hospital parking should be free for patients",
     "Hospital food should be healthier for patients"),
]  # fmt: skip
# Pairs that look alike but say opposite things: a negation or an antonym on one side only,
# or praise against complaint. None of them may be offered for merging.
OPPOSITE = [
    ("Absolutely everything.", "Absolutely nothing."),
    ("I can think of anything that would help.", "I can't think of anything that would help."),
    ("More physios in GP surgeries", "Fewer physios in GP surgeries"),
    ("More weekend rehab sessions", "Less weekend rehab sessions"),
    ("The staff were helpful", "The staff were unhelpful"),
    ("The staff were helpful", "The staff were not helpful"),
    ("I was satisfied with my care", "I was dissatisfied with my care"),
    ("The reception staff were kind", "The reception staff were rude"),
    ("Waiting times were short", "Waiting times were long"),
    ("Make appointments longer", "Make appointments shorter"),
    ("Everything was explained clearly", "Nothing was explained clearly"),
    ("The ward was clean", "The ward was dirty"),
    ("The ward was clean", "The ward was not clean"),
    ("Parking at the hospital is easy", "Parking at the hospital is difficult"),
    ("Booking online was easy", "Booking online was hard"),
    ("Increase funding for community physio", "Cut funding for community physio"),
    ("Increase the number of home visits", "Reduce the number of home visits"),
    ("Keep the walk-in clinic open", "Close the walk-in clinic"),
    ("Always listened to me", "Never listened to me"),
    ("They always called back", "They never called back"),
    ("I would recommend this service", "I would not recommend this service"),
    ("I would recommend this service", "I wouldn't recommend this service"),
    ("The physio was good", "The physio was bad"),
    ("The physio was good", "The physio was no good"),
    ("Communication was better than last time", "Communication was worse than last time"),
    ("Best care I have had", "Worst care I have had"),
    ("The food was excellent", "The food was poor"),
    ("The food was great", "The food was terrible"),
    ("I loved the exercise classes", "I hated the exercise classes"),
    ("I liked the video appointments", "I disliked the video appointments"),
    ("I agree with self-referral", "I disagree with self-referral"),
    ("Allow self-referral to physiotherapy", "Ban self-referral to physiotherapy"),
    ("Appointments should start earlier", "Appointments should start later"),
    ("The clinic runs on time", "The clinic never runs on time"),
    ("Results came back quickly", "Results did not come back quickly"),
    ("The discharge was quick", "The discharge was slow"),
    ("Staff are happy in their jobs", "Staff are unhappy in their jobs"),
    ("There is enough parking", "There is not enough parking"),
    ("Enough time with the therapist", "Not enough time with the therapist"),
    ("Letters were easy to understand", "Letters were not easy to understand"),
    ("I felt safe on the ward", "I felt unsafe on the ward"),
    ("I felt safe on the ward", "I did not feel safe on the ward"),
    ("My questions were answered", "My questions were never answered"),
    ("Everyone was friendly", "Nobody was friendly"),
    ("The care was excellent", "The care was awful"),
    ("Prescriptions should be free for carers", "Carers should pay for prescriptions"),
    ("Higher pay for support workers", "Lower pay for support workers"),
    ("Nothing could be improved", "Everything could be improved"),
    ("I was able to see a dietitian", "I was unable to see a dietitian"),
    ("Do send reminders by text", "Don't send reminders by text"),
    ("Staff had time to talk", "Staff had no time to talk"),
    ("The nurses were caring and kind", "The nurses were uncaring and rude"),
    ("I had a good experience", "I had a bad experience"),
    ("The app was useful", "The app was useless"),
    ("Keep video consultations", "Stop video consultations"),
    ("Include carers in care planning", "Exclude carers from care planning"),
    ("Very happy with the service", "Very disappointed with the service"),
    ("Nothing to improve, all good", "Everything needs improving, all bad"),
]
# Other ideas of the same consultation, so word weights are as in a real question.
BACKGROUND = [
    "More physiotherapists in A&E departments",
    "Occupational therapists should visit people at home after discharge",
    "Better pay for podiatrists",
    "Train more radiographers to cut scan waiting times",
    "Music therapy for children with autism",
    "Orthoptists in every eye clinic",
    "Free bus passes for people attending rehab",
    "Community clinics open in the evening",
    "Reduce paperwork so therapists see more patients",
    "Let AHPs order x-rays directly",
    "Falls prevention classes for older people",
    "Speech therapy for stroke survivors at home",
    "Support for carers who look after someone with dementia",
    "Hire more paramedics to reduce ambulance waits",
    "Translate leaflets into more languages",
    "Give patients their results online",
]


def similarities() -> tuple[np.ndarray, np.ndarray]:
    same, different, _opposite = all_similarities()
    return same, different


def all_similarities() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    texts = sorted({t for pair in SAME + DIFFERENT + OPPOSITE for t in pair} | set(BACKGROUND))
    index = {text: number for number, text in enumerate(texts)}
    matrix = similarity_matrix(texts)

    def score(pairs):
        return np.array([(matrix[index[a]] @ matrix[index[b]].T).toarray()[0, 0] for a, b in pairs])

    return score(SAME), score(DIFFERENT), score(OPPOSITE)


def f1(same: np.ndarray, different: np.ndarray, threshold: float) -> tuple[float, float, float]:
    found, wrong = (same >= threshold).sum(), (different >= threshold).sum()
    precision = found / (found + wrong) if found + wrong else 1.0
    recall = found / len(same)
    return precision, recall, 2 * precision * recall / (precision + recall or 1)


def test_the_default_threshold_is_the_best_on_the_labelled_pairs() -> None:
    same, different = similarities()
    default = InsightsSettings().similar_threshold
    candidates = np.unique(np.concatenate([same, different, [default]]))
    best = max(f1(same, different, t)[2] for t in candidates)
    precision, recall, score = f1(same, different, default)
    assert score == pytest.approx(best, abs=0.01)
    assert precision >= 0.9 and recall >= 0.8
    # Lower would let unrelated ideas through; higher would miss real duplicates.
    assert f1(same, different, default - 0.1)[0] < precision
    assert f1(same, different, default + 0.1)[1] < recall


def test_similar_pairs_are_found_above_the_threshold_only() -> None:
    ideas = [(1, SAME[0][0]), (2, SAME[0][1]), (3, "Free bus passes for people attending rehab"),
             (4, SAME[11][0]), (5, SAME[11][1])]  # fmt: skip
    pairs = similar_pairs(ideas, 0.56)
    assert [(a, b) for a, b, _ in pairs] == [(4, 5)]
    looser = [(a, b) for a, b, _ in similar_pairs(ideas, 0.15)]
    assert looser[0] == (4, 5) and (1, 2) in looser  # most alike first


def offered(pairs, scores: np.ndarray, threshold: float, guard: bool) -> np.ndarray:
    """Which pairs /similar would offer: alike enough and, with the guard, not opposite."""
    alike = scores >= threshold
    if guard:
        alike &= np.array([not are_opposite(a, b) for a, b in pairs])
    return alike


def test_no_opposite_pair_is_offered_and_true_pairs_are_kept() -> None:
    same, different, opposite = all_similarities()
    threshold = InsightsSettings().similar_threshold
    assert len(OPPOSITE) >= 50
    # Without the guard, letters alone offer many of them ("Absolutely nothing." ...).
    assert offered(OPPOSITE, opposite, threshold, guard=False).sum() >= 25
    assert not offered(OPPOSITE, opposite, threshold, guard=True).any()

    # F1 on the labelled pairs is no lower with the guard than without it.
    def f1_with(guard: bool) -> float:
        found = offered(SAME, same, threshold, guard).sum()
        wrong = offered(DIFFERENT, different, threshold, guard).sum()
        precision = found / (found + wrong) if found + wrong else 1.0
        recall = found / len(SAME)
        return 2 * precision * recall / (precision + recall or 1)

    assert f1_with(guard=True) >= f1_with(guard=False)


@pytest.mark.parametrize(("a", "b"), OPPOSITE[:6] + [
    ("I honestly can't think of anything.", "I honestly can think of anything."),
])  # fmt: skip
def test_opposites_are_seen_both_ways_round(a: str, b: str) -> None:
    assert are_opposite(a, b) and are_opposite(b, a)


@pytest.mark.parametrize(("a", "b"), SAME + [
    ("Nothing.", "Nothing at all."),
    ("Not enough parking", "There is not enough parking at the hospital"),
    ("The staff were lovely", "Lovely staff"),
])  # fmt: skip
def test_the_same_idea_in_other_words_is_not_opposite(a: str, b: str) -> None:
    assert not are_opposite(a, b)


def test_similar_pairs_leave_out_opposites() -> None:
    ideas = [
        (1, "Absolutely everything."),
        (2, "Absolutely nothing."),
        (3, "Cut the waiting list for MRI scans"),
        (4, "Shorter waiting lists for MRI scans"),
    ]
    assert [(a, b) for a, b, _ in similar_pairs(ideas, 0.3)] == [(3, 4)]


@pytest.fixture
def settings(database_url: str):
    return insights_settings(database_url)


async def test_a_moderator_merges_a_similar_pair_with_one_button(engine: Engine) -> None:
    first, second, _other = await add_ideas(
        engine,
        [
            "Cut the waiting list for MRI scans",
            "Shorter waiting lists for MRI scans",
            "Free bus passes for people attending rehab",
        ],
        "s",
    )
    moderator = team_member(engine, MODERATOR)
    await moderator.say("/similar")
    assert moderator.keys == ["team:working_similar"]
    channel = RecordingChannel("telegram")
    assert await JobRunner(services_of(engine), {"telegram": channel}).run_until_idle() == 1
    ((_address, replies),) = channel.sent
    assert replies[0].text.startswith("Similar ideas (all questions, all time), as of just now")
    pair = replies[1]
    assert f"idea {first}" in pair.text and f"idea {second}" in pair.text and "alike" in pair.text
    assert [c.payload for c in pair.choices] == [
        f"merge:{second}:{first}", f"merge:{first}:{second}", f"dismiss:{first}:{second}"
    ]  # fmt: skip
    await moderator.press(pair.choices[0].payload)
    assert moderator.keys == ["team:merge_done"]
    await moderator.say("/similar")
    assert moderator.keys == ["team:similar"] and "none open" in moderator.text
    assert "not yet compared" not in moderator.text
    # Ideas that came after the search are counted, until the next search.
    await add_ideas(engine, ["Free parking for carers at every hospital"], "late")
    await moderator.say("/similar")
    assert moderator.text.endswith("none open. 1 newer idea not yet compared.")
