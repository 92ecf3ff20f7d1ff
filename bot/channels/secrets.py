"""What every channel's secrets model shares: its fields are read from the environment
by their variable names (the fields' aliases), other variables are ignored, and values
are kept as SecretStr, out of reprs and logs. A channel with no variables of its own
declares this model itself (empty)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ChannelSecrets(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
