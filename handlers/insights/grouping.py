"""Role groups from the config: every answer to the role question belongs to its
top-level option (a physiotherapist is an AHP), which is what consensus and the
representation targets count by."""

from __future__ import annotations

from handlers.settings import ConsultationConfig
from storage.grouping import Grouping

ROLE_QUESTION = "role"


def role_grouping(config: ConsultationConfig) -> Grouping:
    question = config.gateway_question(ROLE_QUESTION)
    groups = (
        {option.key: question.group_of(option.key) for option in question.all_options()}
        if question
        else {}
    )
    return Grouping(
        groups=groups,
        min_votes=config.insights.consensus_min_votes,
        min_groups=config.insights.consensus_min_groups,
    )


def option_label(config: ConsultationConfig, question_key: str, option_key: str) -> str:
    """The short label of a gateway answer, for reports ("AHP", "Patient")."""
    if not option_key:
        return "not given"
    question = config.gateway_question(question_key)
    option = question.find(option_key) if question else None
    return option.compact if option else option_key
