"""What every single-backend metric provider shares of the ``MetricProvider`` port:
``is_online()`` (one probe, and why it failed in ``last_error``: the engine shows it when a
backend is down at initialisation) and ``backends()`` (a single backend is its own)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Self

from ..errors import ProviderError
from ..spec import ModelRollout


class OnlineCheck:
    """Mixin: ``is_online()`` runs :meth:`probe`; a :class:`ProviderError` it raises, or the
    reason it returns, is kept in ``last_error`` (a raised error is also logged as a warning
    on the provider module's logger). ``backends(rollout)`` is the provider itself."""

    last_error: str = ""
    """Why the last ``is_online`` check failed (empty when it passed)."""

    def is_online(self) -> bool:
        """True when the backend answers :meth:`probe`; the reason is kept otherwise."""
        try:
            reason = self.probe()
        except ProviderError as exc:
            self.last_error = str(exc)
            logging.getLogger(type(self).__module__).warning("%s", exc)
            return False
        self.last_error = reason
        return not reason

    def probe(self) -> str:
        """One cheap call to the backend: ``""`` when it is online, else why it is not
        (a failed call raises a :class:`ProviderError`)."""
        raise NotImplementedError

    def backends(self, rollout: ModelRollout) -> Sequence[Self]:
        """This provider: it measures every rollout it is given."""
        return [self]


__all__ = ["OnlineCheck"]
