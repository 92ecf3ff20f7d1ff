"""A channel that is off costs nothing at start-up: its provider's library (PTB for
Telegram, tweepy for X) is imported only when the channel is built."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import bot.cli.run, bot.runtime
from bot.channels import declarations
declarations()
print(",".join(name for name in ("telegram", "tweepy") if name in sys.modules))
"""


def test_off_channels_leave_their_libraries_unimported() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def test_a_built_channel_imports_its_library() -> None:
    probe = PROBE.replace(
        "declarations()", "declarations()\nimport bot.channels.telegram.channel, bot.channels.x_api"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "telegram,tweepy"  # the probe itself can see them
