"""The WhatsApp channel's rendering within WhatsApp's limits (buttons, lists, numbered
text, long text split), its settings (on, off, wrong, a section for no channel, the
declared channels) and its token kept out of every log. The webhook and the journey are
tests/test_whatsapp.py."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.channels.whatsapp import WhatsAppChannel
from bot.channels.whatsapp.graph import OutsideWindow
from bot.channels.whatsapp.render import render_one
from bot.config import ConfigError
from handlers.types import Choice, Reply
from tests.channel_harness import ChorusUnderTest
from tests.conftest import make_settings
from tests.fakes.whatsapp_graph import (
    FakeGraphAPI,
)
from tests.test_whatsapp import (
    AMIRA,
    APP_SECRET,
    CHANNEL,
    TOKEN,
    Person,
    chorus,
    graph,
    whatsapp_settings,
)

__all__ = ["chorus", "graph"]  # the fixtures, shared with tests/test_whatsapp.py


# --- Rendering within WhatsApp's limits ---------------------------------------------------


def _choices(count_: int, label: str = "Choice") -> tuple[Choice, ...]:
    return tuple(Choice(f"{label} {n}", f"pick:{n}") for n in range(1, count_ + 1))


@pytest.mark.parametrize(
    ("choices", "kind"),
    [(0, "text"), (1, "button"), (3, "button"), (4, "list"), (10, "list"), (11, "text")],
)
def test_choices_become_buttons_a_list_or_numbered_text(choices: int, kind: str) -> None:
    from tests.fakes.whatsapp_graph import check_message

    [message] = render_one(Reply("Pick one", choices=_choices(choices, "A rather long label")))
    for_check = {"messaging_product": "whatsapp", "to": AMIRA, **message}
    check_message(for_check)
    assert (message["interactive"]["type"] if message["type"] == "interactive" else "text") == kind
    if kind == "text" and choices:
        assert f"{choices}. A rather long label {choices}" in message["text"]["body"]


def test_long_text_is_split_to_fit() -> None:
    from tests.fakes.whatsapp_graph import check_message

    text = "\n\n".join(f"Paragraph {n} " + "word " * 150 for n in range(12))
    messages = render_one(Reply(text, choices=_choices(2)))
    for message in messages:
        check_message({"messaging_product": "whatsapp", "to": AMIRA, **message})
    assert messages[-1]["type"] == "interactive" and len(messages) > 1
    joined = " ".join(
        m["text"]["body"] if m["type"] == "text" else m["interactive"]["body"]["text"]
        for m in messages
    )
    assert joined.split() == text.split()


# --- Settings: on, off, and wrong ---------------------------------------------------------


def test_off_without_its_secrets_says_how_in_one_line(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    from bot.channels import whatsapp

    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db")
    environ = {**settings.env.environ, "WHATSAPP_APP_SECRET": APP_SECRET}
    settings = replace(settings, env=replace(settings.env, environ=environ))
    services = SimpleNamespace(settings=settings)
    with caplog.at_level(logging.INFO, logger="bot.channels.whatsapp"):
        assert whatsapp.create(services, None) is None  # type: ignore[arg-type]
    [line] = [record.getMessage() for record in caplog.records]
    assert "WHATSAPP_ACCESS_TOKEN" in line and "WHATSAPP_VERIFY_TOKEN" in line
    assert "WHATSAPP_APP_SECRET" not in line and APP_SECRET not in line


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"api_version": "21"}, "channels.whatsapp.api_version"),
        ({"api_base": "graph.facebook.com"}, "channels.whatsapp.api_base"),
        ({"phone_number_id": None}, "channels.whatsapp.phone_number_id"),
        ({"colour": "green"}, "channels.whatsapp.colour"),
    ],
)
def test_a_wrong_setting_is_named(section: dict, message: str, tmp_path: Path) -> None:
    from bot.channels import whatsapp

    settings = whatsapp_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db", "http://127.0.0.1:9")
    channels = settings.file.channels.model_dump()
    channels["whatsapp"] = {**channels["whatsapp"], **section}
    file = settings.file.model_copy(update={"channels": type(settings.file.channels)(**channels)})
    with pytest.raises(ConfigError, match=message):
        whatsapp.create(SimpleNamespace(settings=replace(settings, file=file)), None)  # type: ignore[arg-type]


def test_a_section_for_no_channel_is_refused(tmp_path: Path) -> None:
    from bot.channels import check_sections, declarations

    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db", channels={"whatsap": {}})
    with pytest.raises(ConfigError, match="channels.whatsap: no such channel"):
        check_sections(settings, declarations())


def test_the_declared_channels() -> None:
    from bot.channels import media

    assert media() == {
        "telegram": "chat",
        "x": "public",
        "sms": "sms",
        "voice": "call",
        "web": "web",
        "whatsapp": "chat",
    }


async def test_the_token_never_reaches_a_log(
    chorus: ChorusUnderTest, graph: FakeGraphAPI, caplog: pytest.LogCaptureFixture
) -> None:
    graph.fail_next(429)
    with caplog.at_level(logging.DEBUG):
        await Person(chorus, graph, AMIRA).say("Hello", expect="Do you agree to take part?")
        channel = chorus.channel(CHANNEL)
        assert isinstance(channel, WhatsAppChannel)
        graph.fail_next(400, code=131047)  # WhatsApp's own verdict: outside the window
        with pytest.raises(OutsideWindow):
            await channel.deliver(AMIRA, [Reply("news", key="followup")])
        graph.fail_next(400, code=100)  # a refused reply is logged
        await Person(chorus, graph, AMIRA).say("YES")
        assert TOKEN not in repr(channel) and TOKEN not in repr(channel.graph)
    assert [r for r in caplog.records if "was not sent" in r.getMessage()]
    assert not [
        r for r in caplog.records if TOKEN in r.getMessage() or APP_SECRET in r.getMessage()
    ]
