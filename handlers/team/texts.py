"""What Chorus says to the consultation team (English only; participants' texts live in
handlers/catalogue.py). Keys become `Reply.key` as "team:<key>"."""

from __future__ import annotations

TEXTS: dict[str, str] = {
    "not_allowed": "That needs the {needed} role; you are a {role}.",
    "bad_arguments": "{problem}.",
    "usage": "Use: {usage}",
    "working_chart": "Making your chart. I will send it here in a minute.",
    "working_export": "Making your export ({format}). I will send it here when it is ready.",
    "working_themes": "Working out themes now. I will send them here when they are ready.",
    "working_similar": "Looking for similar ideas now. I will send them here when done.",
    "refreshing": "A fresh analysis is under way; ask again in a few minutes for newer results.",
    "which_chart": "Which chart?",
    "chart_ready": "{caption}",
    "export_ready": "{filename}, rows: {rows} ({covers}). Vote coding: {coding}.",
    "job_failed": "Sorry, your {what} could not be made: {error}",
    "job_undelivered": "Sorry, your {what} was made but could not be sent here: {error}",
    "export_too_big": "That export holds {size}, more than a chat can carry ({limit}). Ask "
    "for less (one question, or a window such as /export 7d), or run chorus export "
    "--format xlsx --out FILE where the store is.",
    "pending_header": "{count} waiting for moderation ({covers}){showing}.",
    "pending_item": "{line}:\n{text}",
    "pending_none": "Nothing is waiting for moderation.",
    "approved": "Approved {name}: voters can see it now.",
    "hidden": "Hidden {name}: no one will be shown it.",
    "amend_how": "Send /amend {typed} followed by the new text. Now it says:\n{text}",
    "amended": "Amended {name}; it is visible now. The original is kept in the audit log only.",
    "no_such": "There is no {name}.",
    "not_an_idea": "{name} is not an idea that can be merged or moved.",
    "merge_same": "Choose two different ideas to merge.",
    "dismiss_same": "Choose two different ideas.",
    "merge_question": "{a} and {b} answer different questions; only ideas for the same "
    "question can be merged.",
    "merge_done": "Merged {duplicate} into {into}: {moved} moved, {dropped} dropped "
    "(people who voted on both keep their vote on {into}). Now {into} has "
    "+{agree}/-{disagree}. Authors told: {told}.",
    "already_merged": "{name} is already merged into {into}.",
    "dismissed": "OK: {a} and {b} will not be offered as similar again.",
    "similar_none": "No similar ideas are waiting.",
    "erase_ask": "Erase {what}? This cannot be undone.",
    "erase_cancelled": "Nothing erased.",
    "erased_item": "Erased {name} and the {votes} votes on it.",
    "erased_person": "Erased that person: {contributions} contributions, {votes} votes.",
    "no_person": "No participant has a pseudonym starting {prefix}.",
    "ambiguous_person": "More than one pseudonym starts {prefix}; give more characters.",
    "renamed": "Theme {number} is now called: {label}",
    "rename_how": "Send /rename {number} followed by the new name.",
    "no_theme": "There is no theme {number} in the latest themes.",
    "move_which": "Move {name} to which theme?",
    "moved": "Moved {name} to theme {number} ({label}). It stays there when themes are "
    "worked out again.",
    "move_question": "Theme {number} belongs to another question than {name}.",
    "no_themes_yet": "There are no themes for the question of {name} yet.",
}


def team_text(key: str, **params: object) -> str:
    template = TEXTS[key]
    return template.format(**params) if params else template
