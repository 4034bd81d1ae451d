"""The notifier registry: service type -> factory, and the resolved provider configuration.

``NOTIFIERS`` is keyed by type (``slack``, ``msteams``, ``discord``, ``googlechat``, ``webhook``,
``datadog`` and Flagger's ``rocket``); Flagger's ``gchat`` is an alias of ``googlechat``. An
unknown type is a :class:`SpecError` listing the known ones, never a silent fallback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .._registry import Registry
from ..errors import SpecError, SpecIssue
from ..ports import Notifier
from ._base import DEFAULT_TIMEOUT, Secret
from ._datadog import DatadogNotifier
from ._discord import DiscordNotifier
from ._googlechat import GoogleChatNotifier
from ._rocket import RocketChatNotifier
from ._slack import SlackNotifier
from ._slack_compatible import SlackCompatibleNotifier
from ._teams import TeamsNotifier
from ._webhook import WebhookNotifier


@dataclass(frozen=True)
class ProviderConfig:
    """One alert's provider with its credentials resolved (Secrets stay masked in repr)."""

    name: str
    """The alert's name (becomes the notifier's name)."""
    type: str
    """Registry key, e.g. ``slack``."""
    address: Secret | None = None
    """Webhook URL; for datadog the site or API base URL."""
    token: Secret | None = None
    """Bearer token (slack bot token, webhook) or the Datadog API key."""
    channel: str | None = None
    username: str | None = None
    proxy: Secret | None = None
    timeout: float = DEFAULT_TIMEOUT
    path: str = ""
    """Field path of the provider in the spec, for error messages."""

    def secrets(self) -> list[Secret | None]:
        """Every credential, to scrub from error text."""
        return [self.address, self.token, self.proxy]


NotifierFactory = Callable[[ProviderConfig], Notifier]

FLAGGER_ALIASES: dict[str, str] = {"gchat": "googlechat"}
"""Flagger AlertProvider type names that differ from ours."""
FLAGGER_TYPES: tuple[str, ...] = ("slack", "msteams", "discord", "rocket", "gchat")
"""The AlertProvider ``spec.type`` enum of Flagger's CRD (flagger.app/v1beta1)."""
SECRET_HOLDS: dict[str, str] = {"datadog": "token"}
"""What ``secretRef`` supplies per type: ``token`` (Datadog API key) or else ``address``."""


def _address(config: ProviderConfig) -> Secret:
    if not config.address:
        raise SpecError(
            SpecIssue(
                f"{config.path}.address" if config.path else "address",
                f"a {config.type} provider needs its webhook URL",
                "put the URL in secretRef (a Secret key 'address' or an environment variable) "
                "or, if it embeds no token, in address",
            )
        )
    return config.address


def _slack(c: ProviderConfig) -> Notifier:
    if not c.address and not c.token:
        _address(c)
    return SlackNotifier(
        c.address,
        name=c.name,
        channel=c.channel,
        username=c.username,
        token=c.token,
        timeout=c.timeout,
        proxy=c.proxy,
    )


def _teams(c: ProviderConfig) -> Notifier:
    return TeamsNotifier(_address(c), name=c.name, timeout=c.timeout, proxy=c.proxy)


def _slack_compatible(kind: type[SlackCompatibleNotifier]) -> NotifierFactory:
    """The factory of a Slack-compatible webhook service (Discord, Rocket.Chat)."""

    def build(c: ProviderConfig) -> Notifier:
        return kind(
            _address(c),
            name=c.name,
            channel=c.channel,
            username=c.username,
            timeout=c.timeout,
            proxy=c.proxy,
        )

    return build


def _gchat(c: ProviderConfig) -> Notifier:
    return GoogleChatNotifier(_address(c), name=c.name, timeout=c.timeout, proxy=c.proxy)


def _webhook(c: ProviderConfig) -> Notifier:
    return WebhookNotifier(
        _address(c), name=c.name, token=c.token, timeout=c.timeout, proxy=c.proxy
    )


def _datadog(c: ProviderConfig) -> Notifier:
    if not c.token:
        raise SpecError(
            SpecIssue(
                f"{c.path}.secretRef" if c.path else "secretRef",
                "a datadog provider needs an API key",
                "give secretRef: {env: DD_API_KEY} or a Kubernetes Secret with a 'token' key",
            )
        )
    address = c.address.reveal() if c.address else None
    return DatadogNotifier(c.token, address=address, name=c.name, timeout=c.timeout, proxy=c.proxy)


NOTIFIERS: Registry[NotifierFactory] = Registry(
    "notification provider type",
    {
        "slack": _slack,
        "msteams": _teams,
        "discord": _slack_compatible(DiscordNotifier),
        "googlechat": _gchat,
        "webhook": _webhook,
        "datadog": _datadog,
        "rocket": _slack_compatible(RocketChatNotifier),
    },
)
"""Notifier factories by provider type (Flagger's names: ``FLAGGER_ALIASES``)."""


def known_types() -> str:
    """The registered types as a sentence fragment, with Flagger's aliases."""
    aliases = {ours: theirs for theirs, ours in FLAGGER_ALIASES.items()}
    return ", ".join(
        f"{t} (Flagger: {aliases[t]})" if t in aliases else t for t in sorted(NOTIFIERS)
    )


def canonical_type(provider_type: str, *, path: str = "type") -> str:
    """Our registry key for a modelcanary or Flagger type; SpecError listing the known ones."""
    name = FLAGGER_ALIASES.get(provider_type, provider_type)
    if name not in NOTIFIERS:
        raise NOTIFIERS.unknown(provider_type, path=path, hint=f"use one of: {known_types()}")
    return name


def build_notifier(config: ProviderConfig) -> Notifier:
    """The notifier for ``config.type`` from :data:`NOTIFIERS` (unknown type: SpecError)."""
    kind = canonical_type(config.type, path=f"{config.path}.type" if config.path else "type")
    return NOTIFIERS[kind](config)
