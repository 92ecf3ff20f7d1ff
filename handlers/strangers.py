"""Someone Chorus does not know yet: no participant row until they say yes (or no).

The engine runs a stranger's message in a savepoint (storage/provisional.py) and keeps
it only when the person has agreed or refused by the end; a START, HELP or MYDATA, or a
message after FORGET, is answered and leaves nothing behind. Since no row means no
remembered step, a reply that answers the consent question ("yes", "no", "1", "2", or
the buttons) is recognised here, statelessly, and the person starts at the consent step.
"""

from __future__ import annotations

from handlers.commands import parse_command
from handlers.flows.onboarding import CONSENT_NO, CONSENT_YES

_NUMBERED = {"1": CONSENT_YES, "2": CONSENT_NO}  # the order the consent choices are listed in


def answers_consent(text: str, payload: str | None, labels: tuple[str, str]) -> bool:
    """Whether a stranger's message answers "Do you agree to take part?". `labels` are
    the Yes and No button labels in the person's language."""
    if payload is not None:
        return payload in (CONSENT_YES, CONSENT_NO)
    answer = text.strip().rstrip(".").strip()
    command = parse_command(answer)
    if command is not None and command.word in ("yes", "no") and not command.argument:
        return True
    folded = answer.casefold()
    return answer in _NUMBERED or folded in {label.casefold() for label in labels}
