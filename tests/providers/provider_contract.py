"""The contract every metric provider passes (issue 8): subclass :class:`ProviderContract`.

A provider's test module defines ``class TestXxxContract(ProviderContract)`` and overrides the
``case`` fixture to return a :class:`ContractCase`: a provider pointing at a real (or
documented-shape) backend that holds known series, and the queries the contract runs. The
base class then checks, identically for every backend: the value of a known query, NoData
for an empty result, permanent errors for a query the backend rejects, transient errors for
an unreachable or silent backend (timeout), ``is_online`` both ways, and that the
credential never appears in the provider's repr or its error messages.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from modelcanary.analysis._measurements import IntervalData, NoData, Scalar, Window
from modelcanary.errors import PermanentProviderError, ProviderError, TransientProviderError
from modelcanary.ports import MetricProvider
from modelcanary.spec import MetricSpec, ModelRollout, parse_rollout

CONTRACT_ROLLOUT = parse_rollout(
    {
        "metadata": {"name": "fraud", "namespace": "ml"},
        "spec": {
            "champion": {"url": "http://127.0.0.1:1"},
            "challenger": {"url": "http://127.0.0.1:2"},
            "analysis": {
                "interval": "30s",
                "threshold": 1,
                "stepWeights": [50],
                "metrics": [{"name": "error-rate", "thresholdRange": {"max": 0.05}}],
            },
        },
    }
)
"""A rollout ``fraud`` in namespace ``ml`` (template variables: name, namespace, target...)."""


@dataclass
class ContractCase:
    """What the contract needs from one provider's test module."""

    provider: MetricProvider
    """Online provider whose backend holds the series ``known`` reads."""
    known: MetricSpec
    """A custom query whose value in ``window`` is ``expected``."""
    window: Window
    expected: float
    make: Callable[[str], MetricProvider]
    """Builds the same kind of provider for another address (with a short timeout, <= 2 s)."""
    empty: MetricSpec
    """A valid query matching no data: must give NoData, never raise."""
    invalid: MetricSpec | None
    """A query the backend rejects: PermanentProviderError (None: the backend cannot tell)."""
    rollout: ModelRollout = CONTRACT_ROLLOUT
    tolerance: float = 1e-6
    secret: str | None = None
    """The credential the provider was built with (must never be shown)."""


def closed_address() -> str:
    """``127.0.0.1:PORT`` where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"


@contextmanager
def silent_server() -> Iterator[str]:
    """``127.0.0.1:PORT`` that accepts connections and never answers (a hung backend)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        sock.close()


class ProviderContract:
    """Behaviour every MetricProvider shares; subclasses override the ``case`` fixture."""

    address_scheme = "http://"
    """Prefix of addresses passed to ``case.make`` (empty for backends taking host:port)."""

    @pytest.fixture
    def case(self) -> ContractCase:  # pragma: no cover - always overridden
        raise NotImplementedError("override the case fixture")

    def test_is_a_metric_provider(self, case: ContractCase) -> None:
        assert isinstance(case.provider, MetricProvider)
        assert isinstance(case.provider.name, str) and case.provider.name

    def test_online(self, case: ContractCase) -> None:
        assert case.provider.is_online() is True

    def test_known_value(self, case: ContractCase) -> None:
        got = case.provider.query(case.known, case.rollout, case.window)
        assert isinstance(got, Scalar), got
        assert got.value == pytest.approx(case.expected, abs=case.tolerance)

    def test_empty_result_is_no_data(self, case: ContractCase) -> None:
        got = case.provider.query(case.empty, case.rollout, case.window)
        assert isinstance(got, NoData), got
        assert got.reason

    def test_rejected_query_is_permanent(self, case: ContractCase) -> None:
        if case.invalid is None:
            pytest.fail("every contract case names a query its backend rejects")
        with pytest.raises(PermanentProviderError) as info:
            case.provider.query(case.invalid, case.rollout, case.window)
        self._no_secret(case, str(info.value))

    def test_unreachable_is_transient_and_offline(self, case: ContractCase) -> None:
        down = case.make(self.address_scheme + closed_address())
        assert down.is_online() is False
        with pytest.raises(TransientProviderError) as info:
            down.query(case.known, case.rollout, case.window)
        self._no_secret(case, str(info.value))

    def test_timeout_is_transient(self, case: ContractCase) -> None:
        with silent_server() as address:
            hung = case.make(self.address_scheme + address)
            with pytest.raises(TransientProviderError):
                hung.query(case.known, case.rollout, case.window)
            assert hung.is_online() is False

    def test_collect_never_raises_for_gaps(self, case: ContractCase) -> None:
        try:
            data = case.provider.collect(case.rollout, case.window)
        except ProviderError as exc:  # a backend without built-in SLIs must say so clearly
            assert "built-in" in str(exc) or "not supported" in str(exc), exc
            return
        assert isinstance(data, IntervalData)

    def test_secret_never_shown(self, case: ContractCase) -> None:
        self._no_secret(case, repr(case.provider))
        self._no_secret(case, str(case.provider))

    @staticmethod
    def _no_secret(case: ContractCase, text: str) -> None:
        if case.secret:
            assert case.secret not in text, f"credential leaked in: {text}"
