"""Notifications: one adapter per service behind the ``Notifier`` port, plus severity routing.

Services: Slack, Microsoft Teams, Discord, Google Chat, Rocket.Chat (Flagger's payloads), a
generic JSON webhook and Datadog events. Credentials come by reference (``secretRef``: an
environment variable or a Kubernetes Secret) and never appear in reprs, errors or logs.
See ``docs/notifications.md``.
"""

from ..secrets import SecretReader
from .base import DEFAULT_TIMEOUT, DeliveryError, HttpNotifier, Secret, redact
from .datadog import DatadogNotifier
from .discord import DiscordNotifier
from .googlechat import GoogleChatNotifier
from .registry import (
    FLAGGER_ALIASES,
    FLAGGER_TYPES,
    NOTIFIERS,
    NotifierFactory,
    ProviderConfig,
    build_notifier,
    canonical_type,
)
from .rocket import RocketChatNotifier
from .router import Delivery, NotificationRouter, ProviderLookup, admits
from .secrets import resolve_secret
from .slack import SlackNotifier
from .teams import TeamsNotifier, teams_card_format
from .webhook import WebhookNotifier

__all__ = [
    "DEFAULT_TIMEOUT",
    "FLAGGER_ALIASES",
    "FLAGGER_TYPES",
    "NOTIFIERS",
    "DatadogNotifier",
    "Delivery",
    "DeliveryError",
    "DiscordNotifier",
    "GoogleChatNotifier",
    "HttpNotifier",
    "NotificationRouter",
    "NotifierFactory",
    "ProviderConfig",
    "ProviderLookup",
    "RocketChatNotifier",
    "Secret",
    "SecretReader",
    "SlackNotifier",
    "TeamsNotifier",
    "WebhookNotifier",
    "admits",
    "build_notifier",
    "canonical_type",
    "redact",
    "resolve_secret",
    "teams_card_format",
]
