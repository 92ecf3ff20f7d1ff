"""The WhatsApp channel (WhatsApp Cloud API), declared for the channel kit.

On when WHATSAPP_ACCESS_TOKEN, WHATSAPP_APP_SECRET and WHATSAPP_VERIFY_TOKEN are set;
otherwise one log line says how to turn it on. `channels.whatsapp` in config.yaml holds
phone_number_id, api_base, api_version and followup_template.
"""

from __future__ import annotations

import logging

import aiohttp

from bot.channels.kit import Declaration
from bot.channels.whatsapp.channel import PATH, WhatsAppChannel
from bot.channels.whatsapp.payload import CHANNEL
from bot.channels.whatsapp.settings import WhatsAppSecrets, WhatsAppSettings
from bot.config import ConfigError
from bot.services import Services

log = logging.getLogger(__name__)


def create(services: Services, http: aiohttp.ClientSession) -> WhatsAppChannel | None:
    settings: WhatsAppSettings = DECLARATION.settings_from(services.settings)
    secrets: WhatsAppSecrets = DECLARATION.secrets_from(services.settings)
    missing = secrets.missing()
    if missing:
        log.info(
            "WhatsApp is off: set %s (from your Meta app) and point its webhook at %s "
            "to turn it on",
            ", ".join(missing),
            PATH,
        )
        return None
    if not settings.phone_number_id:
        raise ConfigError(
            "channels.whatsapp.phone_number_id: set it to the business number's Phone "
            "number ID (Meta app → WhatsApp → API Setup) so replies can be sent"
        )
    return WhatsAppChannel(services, http, settings=settings, secrets=secrets)


DECLARATION = Declaration(
    name=CHANNEL,
    medium="chat",
    create=create,
    settings=WhatsAppSettings,
    secrets=WhatsAppSecrets,
)

__all__ = ["DECLARATION", "WhatsAppChannel", "create"]
