"""Notifications: one adapter per service behind the ``Notifier`` port, plus severity routing.

Services: Slack, Microsoft Teams, Discord, Google Chat, Rocket.Chat (Flagger's payloads), a
generic JSON webhook and Datadog events. Credentials come by reference (``secretRef``: an
environment variable or a Kubernetes Secret) and never appear in reprs, errors or logs.
See ``docs/notifications.md``.
"""

from .._secretref import SecretReader
from ._base import DEFAULT_TIMEOUT, DeliveryError, HttpNotifier, Secret, redact
from ._credentials import resolve_secret
from ._datadog import DatadogNotifier
from ._delivery import Delivery, NotificationDelivery, ProviderLookup, admits
from ._discord import DiscordNotifier
from ._googlechat import GoogleChatNotifier
from ._registry import (
    FLAGGER_ALIASES,
    FLAGGER_TYPES,
    NOTIFIERS,
    NotifierFactory,
    ProviderConfig,
    build_notifier,
    canonical_type,
)
from ._rocket import RocketChatNotifier
from ._slack import SlackNotifier
from ._teams import TeamsNotifier, teams_card_format
from ._webhook import WebhookNotifier

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
    "NotificationDelivery",
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
