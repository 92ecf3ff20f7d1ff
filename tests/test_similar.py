"""Near-duplicate ideas: the threshold justified on a labelled set of idea pairs, the
background search, and a moderator merging a pair from the list with one button."""

from __future__ import annotations

import numpy as np
import pytest

from bot.jobs import JobRunner
from handlers.engine import Engine
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
    texts = sorted({t for pair in SAME + DIFFERENT for t in pair} | set(BACKGROUND))
    index = {text: number for number, text in enumerate(texts)}
    matrix = similarity_matrix(texts)

    def score(pairs):
        return np.array([(matrix[index[a]] @ matrix[index[b]].T).toarray()[0, 0] for a, b in pairs])

    return score(SAME), score(DIFFERENT)


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
    assert f"#{first}" in pair.text and f"#{second}" in pair.text and "alike" in pair.text
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
