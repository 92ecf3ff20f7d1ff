"""config.yaml and the secret: the default file is a working consultation, every mistake
is one line naming the key, and a created CHORUS_SECRET file is private and never logged."""

from __future__ import annotations

import copy
import logging
import os
import re
import stat
from datetime import date
from pathlib import Path

import pytest
import yaml

from bot.config import ConfigError, Environment, Settings, load_settings, parse_settings
from bot.secret import resolve_secret
from tests.conftest import REPO

DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
AHP_JOBS = 14


def test_the_default_config_is_the_ahps_into_action_consultation() -> None:
    settings = load_settings(REPO / "config.yaml", environ={})
    file = settings.file
    assert file.consultation.name == "AHPs into Action"
    assert "#AHPsIntoAction" in file.consultation.hashtags
    assert file.consultation.max_text_length == 2000
    assert len(file.questions) >= 2
    assert all(isinstance(q.opens, date) and q.opens <= q.closes for q in file.questions)
    assert [g.key for g in file.gateway] == ["role", "region", "age_band"]
    role = file.gateway[0]
    ahp = role.find("ahp")
    assert ahp is not None and len(ahp.options) == AHP_JOBS
    assert {o.key for o in role.options} >= {
        "other-staff",
        "patient",
        "carer",
        "public",
        "student",
    }
    regions = {o.key for o in file.gateway[1].options}
    assert {"london", "midlands", "scotland", "wales", "northern-ireland"} <= regions
    assert len(file.gateway[2].options) >= 6
    assert file.representation_targets["role"]["patient"] > 0
    assert file.sentiment.analyser == "chorus"
    assert (file.sentiment.positive_threshold, file.sentiment.negative_threshold) == (
        0.05,
        -0.05,
    )


def _error(change) -> str:
    data = copy.deepcopy(DEFAULT)
    change(data)
    with pytest.raises(ConfigError) as raised:
        parse_settings(data, Path("config.yaml"))
    message = str(raised.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("consultation"), "config.yaml: consultation: Field required"),
        (
            lambda d: d["consultation"].update(nmae="x"),
            "config.yaml: consultation.nmae: Extra inputs are not permitted",
        ),
        (
            lambda d: d["questions"][0].update(closes="2020-01-01"),
            "config.yaml: questions.0: closes (2020-01-01) is before opens",
        ),
        (lambda d: d["questions"][1].update(opens="soon"), "config.yaml: questions.1.opens: "),
        (
            lambda d: d["questions"].append(dict(d["questions"][0])),
            "config.yaml: questions: each key must be unique, repeated: ahp-action",
        ),
        (
            lambda d: d["gateway"].append(copy.deepcopy(d["gateway"][0])),
            "config.yaml: gateway: each key must be unique, repeated: role",
        ),
        (
            lambda d: d["gateway"][0]["options"][0]["options"][2].pop("key"),
            "config.yaml: gateway.0.options.0.options.2.key: Field required",
        ),
        (
            lambda d: d["representation_targets"]["role"].update(nurse=0.1),
            "config.yaml: representation_targets.role.nurse: not an option",
        ),
        (
            lambda d: d["sentiment"].update(analyser="magic"),
            "config.yaml: sentiment.analyser: Input should be 'chorus', 'vader' or 'textblob'",
        ),
        (
            lambda d: d["sentiment"].update(negative_threshold=0.2),
            "config.yaml: sentiment.negative_threshold: ",
        ),
        (
            lambda d: d["consultation"].update(languages=["english"]),
            "config.yaml: consultation.languages: 'english' is not a two-letter",
        ),
        (
            lambda d: d["consultation"].update(languages=["en", "xx"]),
            "config.yaml: consultation.languages: language 'xx': not an ISO 639-1 code",
        ),
        (
            lambda d: d["consultation"].update(max_text_length="lots"),
            "config.yaml: consultation.max_text_length: Input should be a valid integer",
        ),
        (lambda d: d["server"].update(port=99999), "config.yaml: server.port: "),
        (
            lambda d: d.update(team=[{"telegram_id": 1, "role": "boss"}]),
            "config.yaml: team.0.role: Input should be 'viewer', 'moderator' or 'admin'",
        ),
    ],
)
def test_a_mistake_is_one_line_naming_the_key(change, expected: str) -> None:
    assert _error(change).startswith(expected)


def test_several_mistakes_are_counted_after_the_first() -> None:
    def two(data: dict) -> None:
        data["server"]["port"] = -1
        data["consultation"]["max_text_length"] = 1

    assert _error(two).endswith("(and 1 more problem)")


def test_files_that_cannot_be_used_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("consultation: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.yaml: .* at line 2, column 1"):
        load_settings(broken, environ={})
    with pytest.raises(ConfigError, match=r"missing\.yaml: no such file \(pass --config PATH\)"):
        load_settings(tmp_path / "missing.yaml", environ={})
    listed = tmp_path / "list.yaml"
    listed.write_text("- one\n- two\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a mapping of settings at the top level"):
        load_settings(listed, environ={})


def test_secrets_come_from_the_environment_only() -> None:
    from bot.channels import sms, telegram

    env = Environment.from_environ(
        {
            "CHORUS_DATABASE_URL": "postgresql+asyncpg://chorus:hunter2@db/chorus",
            "CHORUS_SECRET": "s" * 32,
            "TELEGRAM_BOT_TOKEN": " 123:abc ",
            "TELEGRAM_WEBHOOK_SECRET": "  ",
            "TWILIO_AUTH_TOKEN": "twilio-token",
        }
    )
    assert env.secret == "s" * 32
    assert "hunter2" not in repr(env) and "s" * 32 not in repr(env)
    assert "123:abc" not in repr(env) and "twilio-token" not in repr(env)
    assert Environment.from_environ({}).database_url == "sqlite+aiosqlite:///var/chorus.db"
    # Each channel reads its own variables, stripped, an empty one as unset.
    settings = Settings(parse_settings(DEFAULT, Path("config.yaml")), env, Path("config.yaml"))
    bot = telegram.DECLARATION.secrets_from(settings)
    assert bot.token.get_secret_value() == "123:abc" and bot.webhook_secret is None
    twilio = sms.DECLARATION.secrets_from(settings)
    assert twilio.auth_token.get_secret_value() == "twilio-token" and twilio.account_sid is None
    assert "123:abc" not in repr(bot) and "twilio-token" not in repr(twilio)


def test_the_config_module_names_no_channel() -> None:
    """bot/config.py reads the file and the core's environment; every channel's settings
    and variables are declared in its own module. It imports no channel either: it is
    imported early and by every command."""
    import ast

    import bot.config
    from bot.channels import declarations

    source = Path(bot.config.__file__).read_text(encoding="utf-8")
    names = {"twilio", "whatsapp", "telegram", "twitter", "sms", "voice"}
    for declaration in declarations():
        names |= {declaration.name, declaration.section_name}
    # One-letter names ("x") cannot be told from other words.
    named = [n for n in sorted(names) if len(n) > 1 and re.search(rf"\b{n}\b", source, re.I)]
    assert named == []
    for name in ("TELEGRAM_", "X_BEARER", "TWILIO_", "WHATSAPP_"):
        assert name not in source
    imported = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            imported.append(node.module or "")
    assert not [m for m in imported if m == "bot.channels" or m.startswith("bot.channels.")]


# --- CHORUS_SECRET ---------------------------------------------------------------------


def test_a_missing_secret_is_created_private_and_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "var" / "chorus-secret"
    old_umask = os.umask(0)  # even with a permissive umask the file is 0600
    try:
        with caplog.at_level(logging.DEBUG):
            secret = resolve_secret(Environment.from_environ({}), path)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(secret) >= 32 and path.read_text(encoding="utf-8").strip() == secret
    assert "mode 0600" in caplog.text and secret not in caplog.text
    assert resolve_secret(Environment.from_environ({}), path) == secret  # stable


def test_a_secret_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chorus-secret"
    path.write_text("x" * 40, encoding="utf-8")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="can be read by other users .*chmod 600"):
        resolve_secret(Environment.from_environ({}), path)


def test_a_secret_that_cannot_be_kept_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "var"
    blocker.write_text("not a folder", encoding="utf-8")
    with pytest.raises(ConfigError, match="CHORUS_SECRET is not set and .* cannot be used"):
        resolve_secret(Environment.from_environ({}), blocker / "chorus-secret")
    with pytest.raises(ConfigError, match="at least 16 characters"):
        resolve_secret(Environment.from_environ({"CHORUS_SECRET": "short"}), blocker)


def test_built_in_channels_read_their_own_sections_through_their_declarations() -> None:
    """SMS, voice and the web form keep their settings models in their own modules (the
    WhatsApp way); the keys of config.yaml are unchanged, and a mistake there is one line
    naming the key, when the channels are built."""
    from bot.channels import sms, voice, web

    data = copy.deepcopy(DEFAULT)
    data["channels"]["sms"].update(from_number="+447700900000", confirm_opt_out=True)
    data["channels"]["voice"].update(language="cy-GB", voice="Polly.Amy-Neural")
    data["channels"]["web"].update(enabled=False)
    settings = load_settings_from(data)
    texts = sms.DECLARATION.settings_from(settings)
    assert (texts.from_number, texts.confirm_opt_out) == ("+447700900000", True)
    assert texts.api_base == "https://api.twilio.com"
    calls = voice.DECLARATION.settings_from(settings)
    assert (calls.language, calls.voice) == ("cy-GB", "Polly.Amy-Neural")
    assert web.DECLARATION.settings_from(settings).enabled is False
    for name, change, expected in (
        ("sms", {"public_url": "ftp://x"}, "channels.sms.public_url: String should match"),
        ("voice", {"langauge": "en"}, "channels.voice.langauge: Extra inputs are not"),
        ("web", {"enabled": "maybe"}, "channels.web.enabled: Input should be a valid boolean"),
    ):
        data = copy.deepcopy(DEFAULT)
        data["channels"][name].update(change)
        declaration = {"sms": sms, "voice": voice, "web": web}[name].DECLARATION
        with pytest.raises(ConfigError) as raised:
            declaration.settings_from(load_settings_from(data))
        assert str(raised.value).startswith(expected), raised.value


def load_settings_from(data: dict) -> Settings:
    return Settings(parse_settings(data, Path("config.yaml")), Environment.from_environ({}), Path())
