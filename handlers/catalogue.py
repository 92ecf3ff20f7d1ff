"""Every participant-facing message, in one place, in plain English.

One catalogue means one place to check reading ease (Flesch 60 or more), SMS length and
GSM-7 characters (no curly quotes, no emoji in English text), and one place to translate:
a `handlers/locale/<lang>.po` file (gettext, read with Babel), keyed by the English text,
replaces any message it translates.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import cast

from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"

MESSAGES: dict[str, str] = {
    "welcome": "Welcome to {name}. Share your ideas and vote on the ideas of others.",
    "consent_ask": "Do you agree to take part? Reply YES or NO.",
    "consent_again": "Please reply YES to take part, or NO if you do not want to.",
    "refused": "OK. We have kept nothing about you. Send START if you change your mind.",
    "refused_before": "You said no before. Reply YES if you want to take part now.",
    "gateway_done": "Thank you. You are all set.",
    "gateway_skip_choice": "Prefer not to say",
    "question_is": "Our question: {question}",
    "questions_are": "Our questions: {questions}",
    "menu": "What would you like to do?",
    "menu_idea": "Share an idea",
    "menu_vote": "Vote on ideas",
    "menu_comment": "Comment on an idea",
    "menu_help": "Help",
    "ask_idea": "What is your idea? {question}",
    "idea_in_words": "Please write your idea in words. Send START to go back to the menu.",
    "ask_question": "Which question is your idea for?",
    "no_open_question": "There is no open question right now. Please come back soon.",
    "idea_saved": "Thanks! Your idea is saved as idea {number}. Send VOTE to vote on other ideas.",
    "idea_pending": "Thanks! Your idea is saved. We check it before others can see it.",
    "followup_ask": "Do you want news about your idea, such as when we join it with a similar one? "
    "Reply YES or NO.",
    "followup_yes": "OK. We will send you news about your ideas. Send NEWS OFF to stop.",
    "news_off": "OK. We will not send you news any more. Your ideas and votes are kept.",
    "news_on": "OK. We will send you news about your ideas. Send NEWS OFF to stop.",
    "followup_no": "OK. We will not send you news.",
    "news_unavailable": "We cannot send you news here: this way of taking part only answers "
    "your messages. News goes by text message or chat app.",
    "vote_card": "Idea {number}: {text}",
    "vote_hint": "Send COMMENT to comment on this idea.",
    "vote_agree": "Agree",
    "vote_disagree": "Disagree",
    "vote_skip": "Skip",
    "vote_done": "You have seen all the ideas for now. Thank you! Send IDEA to share your own.",
    "vote_gone": "That idea is no longer open for votes.",
    "vote_own": "That is your own idea, so you cannot vote on it.",
    "vote_use_numbers": "Please reply 1 to agree, 2 to disagree or 3 to skip.",
    "comment_ask": "Your comment is for idea {number}: {text}\n"
    "What is your comment? Send SKIP to stop.",
    "comment_choose": "Which idea is your comment for?",
    "cancel_choice": "Cancel",
    "alike_ask": "Is your idea like one of these? Choose it to add your vote.",
    "alike_idea": "Idea {number}: {text}",
    "alike_different": "Mine is different",
    "alike_voted": "Thanks! We added your vote to idea {number}.",
    "comment_none": "There are no ideas to comment on yet. Send IDEA to share one.",
    "comment_saved": "Thanks! Your comment on idea {number} is saved.",
    "comment_pending": "Thanks! Your comment is saved. We check it before others can see it.",
    "mydata": "We hold this about you: {details}. Send FORGET to delete it.",
    "mydata_none": "We hold nothing about you yet.",
    "forget_ask": "This deletes your ideas, votes and answers for good. "
    "Reply YES to delete or NO to keep them.",
    "forgotten": "Done. We have deleted your data. Send START to take part again.",
    "forget_kept": "OK. We have kept all your data.",
    "help": "Send IDEA to add an idea, VOTE to vote or COMMENT to comment. "
    "Send NEWS OFF to stop news, MYDATA to see your data and FORGET to delete it.",
    "help_no_news": "Send IDEA to add an idea, VOTE to vote or COMMENT to comment. "
    "Send MYDATA to see your data and FORGET to delete it.",
    "unknown_command": "Sorry, I do not know that command. Send HELP to see what you can do.",
    "empty": "Your message was empty. Please send some words.",
    "too_long": "Your message is too long ({length} characters). "
    "Please keep it under {limit} and send it again.",
    "out_of_range": "Please reply with a number from 1 to {count}.",
    "choose_button": "Please choose one of the buttons.",
    "nothing_to_skip": "There is nothing to skip. Send HELP to see what you can do.",
    "cancelled": "OK, stopped.",
    "yes": "Yes",
    "no": "No",
    "opted_out": "You will get no more messages from us. Send START to join again.",
    "opted_in": "Welcome back. You will get our messages again.",
    "failed_kept": "Sorry, something went wrong. Your message is kept and we will try again.",
    "replies_late": "Sorry for the wait. Here is our reply to your last message.",
    "store_busy": "Sorry, we are busy. Please try again in a minute.",
    "limit_ideas": "Thank you for all your ideas! That is a lot for one hour. "
    "Please send more later.",
    "limit_comments": "Thank you for all your comments! That is a lot for one hour. "
    "Please send more later.",
    "limit_votes": "You are voting very fast. Please wait a minute, then vote again.",
    "limit_messages": "You are sending messages very fast. Please wait a minute, then try again.",
    "idea_again": "You have shared that idea already, as idea {number}. Thank you!",
    # Telegram: replies the channel gives without the conversation, and the command menu.
    "send_text": "Sorry, I can only read text. Please type your message.",
    "private_only": "Please message me in a private chat to take part. "
    "Your ideas and answers stay private there.",
    "private_only_button": "Message me",
    "command_start": "Start, or go back to the menu",
    "command_idea": "Share your idea",
    "command_vote": "Vote on the ideas of others",
    "command_comment": "Add a comment to an idea",
    "command_mydata": "See what we hold about you",
    "command_forget": "Delete your data",
    "command_help": "What you can do",
    # --- SMS: the line of numbered choices, and HELP in one segment -------------------
    "sms_choices": "Reply {choices}",
    "help_sms": "{name}: send IDEA, VOTE or COMMENT to take part. "
    "Send MYDATA to see your data, FORGET to delete it or STOP to end texts.",
    # --- Voice calls (read aloud: plain, short, one thing per sentence) ----------------
    "call_welcome": "Welcome to {name}. You can share ideas and vote on the ideas of others.",
    "call_welcome_back": "Welcome back to {name}. Good to hear from you.",
    "call_privacy": "We keep your ideas and votes, but not your name or your phone number. "
    "We use them to plan health services. To delete what you told us, press 8 at the menu.",
    "call_consent_ask": "Press 1 to agree and take part. Press 2 if you do not want to.",
    "call_refused": "OK. We have kept nothing about you. Goodbye.",
    "call_joined": "Thank you for taking part.",
    "call_menu": "Press 1 to share an idea. Press 2 to hear ideas and vote on them. "
    "Press 9 to hear how we use what you tell us. Press 8 to delete what you told us.",
    "call_question_option": "Press {number} for: {question}",
    "call_ask_idea": "{question} Please say your idea after this message. "
    "Stop talking when you are done.",
    "call_confirm_idea": "You said: {text}. Press 1 to save it. Press 2 to say it again.",
    "call_idea_saved": "Thank you. Your idea is saved as idea {number}.",
    "call_idea_pending": "Thank you. We will check your idea before others hear it.",
    "call_not_heard": "Sorry, we did not hear that.",
    "call_vote_intro": "Here are the ideas with the fewest votes.",
    "call_vote_card": "Idea {number}. {text}. Press 1 to agree, 2 to disagree, or 3 to skip.",
    "call_vote_done": "Thank you. Your votes are saved.",
    "call_vote_none": "There are no new ideas for you to vote on yet.",
    "call_bad_key": "Sorry, that key does not do anything here.",
    "call_alike_ask": "Your idea sounds like one we have. If it is the same, press its "
    "number to add your vote.",
    "call_alike_option": "Press {press} for idea {number}: {text}.",
    "call_alike_different": "Press {press} if yours is different.",
    "call_alike_voted": "Thank you. We added your vote to idea {number}.",
    "call_forget_ask": "This deletes your ideas and votes for good. "
    "Press 1 to delete them. Press 2 to keep them.",
    "call_forgotten": "Done. We have deleted your ideas and votes. Goodbye.",
    "call_goodbye": "We did not hear you, so we will end the call now. Goodbye.",
    # --- The web form -------------------------------------------------------------------
    "web_start": "Welcome to {name}. Share your ideas and vote on the ideas of others.",
    "web_start_button": "Start",
    "web_type_here": "Type your message or idea here",
    "web_send": "Send",
    "web_limit": "up to {limit} characters",
    "web_already_sent": "We already have that message. You can carry on below.",
    # News for authors who asked for it (sent later, through the outbox).
    "merged_yours": "News about your idea {number}: we joined it with a similar idea, "
    'idea {into}: "{text}". Votes on both now count together.',
    "merged_into_yours": "News about your idea {number}: we joined a similar idea with it. "
    "Votes on both now count together.",
}

# Labels used inside MYDATA's {details}.
DETAIL_LABELS: dict[str, str] = {
    "joined": "joined {date}",
    "answers": "answers: {answers}",
    "ideas": "ideas: {count}",
    "comments": "comments: {count}",
    "votes": "votes: {count}",
    "news": "news: {value}",
}


@functools.cache
def _translations(language: str) -> dict[str, str]:
    path = LOCALE_DIR / f"{language}.po"
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        catalog = read_po(handle)
    return {
        cast(str, m.id): cast(str, m.string) for m in catalog if m.id and m.string and not m.fuzzy
    }


class Catalogue:
    """Looks up and fills in messages for one language, falling back to English."""

    def __init__(self, language: str | None = None) -> None:
        self.language = language or "en"

    def text(self, key: str, **params: object) -> str:
        english = MESSAGES[key]
        template = _translations(self.language).get(english, english)
        return template.format(**params) if params else template

    def detail(self, key: str, **params: object) -> str:
        english = DETAIL_LABELS[key]
        template = _translations(self.language).get(english, english)
        return template.format(**params)
