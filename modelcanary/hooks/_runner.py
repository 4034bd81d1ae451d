"""``HttpWebhookRunner``: the ``WebhookRunner`` port over HTTP, behaving like Flagger's caller.

What Flagger does (fluxcd/flagger ``pkg/controller/webhook.go``, ``callWebhook``), reproduced here:

- ``POST`` the payload (see ``payload.py``) with ``Content-Type: application/json``;
- per-attempt timeout ``webhook.timeout`` (default 10s);
- ``retries`` extra attempts through hashicorp/go-retryablehttp, whose default policy retries
  connection errors and timeouts, HTTP 429 and 5xx except 501, but not TLS certificate errors,
  bad URLs or too many redirects; redirects are followed (Go's client, at most 10);
- ``disableTLS`` skips certificate verification;
- the call passes when the final status is ``<= 202`` (``if r.StatusCode > 202`` is the failure
  test), so 200, 201 and 202 pass and 203, 204 and every 3xx/4xx/5xx fail; on failure Flagger
  reports the response body.

Authentication (a modelcanary extension): a webhook with ``secretRef`` sends
``Authorization: Bearer <token>``, the token read from the environment variable
``secretRef.env`` or the ``token`` key of the Kubernetes Secret ``secretRef.name`` (in the
rollout's namespace, through the ``secret_reader`` the operator passes). httpx drops the header
on a redirect to another origin. A token that cannot be read fails the call with the reason.

Differences: the backoff is shorter (``backoff * 2**n`` capped at ``max_backoff``, instead of
1s..30s) so a gate does not stall an analysis interval, and a failure never raises: it is a
``WebhookResult(passed=False)`` whose one-line message names the status, the safe URL (no
credentials, no query) and the start of the response body.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

import httpx

from .._httpd import Stoppable
from .._secretref import SecretReader, from_env, read_key, require_reader, where
from ..errors import GateError, ModelCanaryError, SpecError, SpecIssue
from ..ports import WebhookPayload, WebhookResult, WebhookRunner
from ..spec import WEBHOOK_TYPES, Webhook, parse_duration
from ._payload import encode_payload, one_line, safe_url

log = logging.getLogger(__name__)

TOKEN_KEY = "token"
"""Key of the bearer token in the Kubernetes Secret named by ``secretRef.name``."""
PASS_MAX_STATUS = 202
"""Flagger's pass rule: HTTP status <= 202."""
MAX_REDIRECTS = 10
"""Go's ``http.Client`` stops after 10 redirects."""

PayloadFactory = Callable[[Webhook], WebhookPayload]
StopRule = Callable[[WebhookResult], bool]


def is_retryable_status(status: int) -> bool:
    """go-retryablehttp's default policy: 429, and 5xx except 501 Not Implemented."""
    return status == 429 or (status >= 500 and status != 501)


def _is_cert_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


class _Attempt:
    """Outcome of one HTTP attempt: the result, whether to retry, and a server-asked delay."""

    __slots__ = ("result", "retry", "retry_after")

    def __init__(self, result: WebhookResult, retry: bool, retry_after: float | None = None):
        self.result = result
        self.retry = retry
        self.retry_after = retry_after


class HttpWebhookRunner(Stoppable):
    """Calls Flagger-compatible webhooks with httpx (sync); safe to share between threads.

    ``close()`` (or leaving ``with HttpWebhookRunner() as runner:``) closes its connection
    pools; a later call opens new ones."""

    def __init__(
        self,
        *,
        backoff: float = 0.5,
        max_backoff: float = 5.0,
        body_limit: int = 200,
        sleep: Callable[[float], None] = time.sleep,
        secret_reader: SecretReader | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.body_limit = body_limit
        self._sleep = sleep
        self._secret_reader = secret_reader
        self._env = env
        self._clients: dict[bool, httpx.Client] = {}
        self._lock = threading.Lock()

    def _client(self, verify: bool) -> httpx.Client:
        with self._lock:
            client = self._clients.get(verify)
            if client is None:
                client = httpx.Client(
                    verify=verify, follow_redirects=True, max_redirects=MAX_REDIRECTS
                )
                self._clients[verify] = client
            return client

    def stop(self) -> None:
        """Close the connection pools (idempotent); what ``close()`` and ``with`` call."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def run(self, hook: Webhook, payload: WebhookPayload) -> WebhookResult:
        """POST ``payload`` to ``hook.url`` with timeout and retries; never raises for HTTP."""
        timeout = parse_duration(hook.timeout)
        body = encode_payload(hook, payload)
        headers = {"Content-Type": "application/json"}
        try:
            token = self.token(hook, payload.namespace)
        except ModelCanaryError as exc:
            message = f"no token for {safe_url(hook.url)}: {one_line(str(exc), 300)}"
            log.info("webhook %r (%s): %s", hook.name, hook.type, message)
            return WebhookResult(hook.name, hook.type, False, None, message)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        client = self._client(verify=not hook.disable_tls)
        attempts = hook.retries + 1
        for number in range(1, attempts + 1):
            outcome = self._attempt(client, hook, body, headers, timeout)
            if outcome.result.passed or not outcome.retry or number == attempts:
                break
            self._sleep(self._delay(number, outcome.retry_after))
        result = outcome.result
        if number > 1:
            result = replace(result, message=f"{result.message} (attempt {number} of {attempts})")
        level = logging.DEBUG if result.passed else logging.INFO
        log.log(level, "webhook %r (%s): %s", hook.name, hook.type, result.message)
        return result

    def token(self, hook: Webhook, namespace: str) -> str | None:
        """The bearer token of ``hook.secretRef`` (None without one); SpecError/GateError saying
        which variable or Secret is missing, never the value."""
        ref = hook.secret_ref
        if ref is None:
            return None
        path = f"webhook {hook.name}: secretRef"
        if ref.env is not None:
            value = from_env(ref, os.environ if self._env is None else self._env, path, "token")
        else:
            reader = require_reader(self._secret_reader, ref, namespace, path)
            found = read_key(reader, ref, TOKEN_KEY, namespace, GateError)
            if found is None:
                raise SpecError(
                    SpecIssue(
                        f"{path}.name",
                        f"Kubernetes Secret {where(ref, namespace)} has no key {TOKEN_KEY!r}",
                        f"kubectl create secret generic {ref.name} --from-literal=token=TOKEN",
                    )
                )
            value = found
        if not all("!" <= char <= "~" for char in value):  # it goes into a header line
            raise SpecError(
                SpecIssue(path, "the token is not one word of visible ASCII", "regenerate it")
            )
        return value

    def run_all(
        self,
        hooks: Iterable[Webhook],
        type: str,
        payload_factory: PayloadFactory,
        *,
        stop_after: StopRule | None = None,
    ) -> list[WebhookResult]:
        """Run the webhooks of ``type`` in order (see :func:`run_all`)."""
        return run_all(self, hooks, type, payload_factory, stop_after=stop_after)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        delay = self.backoff * 2.0 ** (attempt - 1)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.max_backoff)

    def _attempt(
        self,
        client: httpx.Client,
        hook: Webhook,
        body: bytes,
        headers: dict[str, str],
        timeout: float,
    ) -> _Attempt:
        url = safe_url(hook.url)

        def failed(message: str, status: int | None = None) -> WebhookResult:
            return WebhookResult(hook.name, hook.type, False, status, message)

        try:
            response = client.post(
                hook.url,
                content=body,
                headers=headers,
                timeout=timeout,
            )
        except httpx.TimeoutException:
            return _Attempt(failed(f"timeout after {timeout:g}s calling {url}"), retry=True)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.TooManyRedirects) as exc:
            reason = self._reason(exc, hook.url, url)
            return _Attempt(failed(f"cannot call {url}: {reason}"), retry=False)
        except httpx.TransportError as exc:
            reason = self._reason(exc, hook.url, url)
            if _is_cert_error(exc):
                hint = "TLS certificate not trusted (set disableTLS to skip verification)"
                return _Attempt(failed(f"cannot call {url}: {hint}"), retry=False)
            return _Attempt(failed(f"connection to {url} failed: {reason}"), retry=True)
        except httpx.HTTPError as exc:  # anything else httpx raises: report, do not retry
            reason = self._reason(exc, hook.url, url)
            return _Attempt(failed(f"cannot call {url}: {reason}"), retry=False)

        status = response.status_code
        if status <= PASS_MAX_STATUS:
            result = WebhookResult(hook.name, hook.type, True, status, f"HTTP {status} from {url}")
            return _Attempt(result, retry=False)
        text = one_line(response.text, self.body_limit)
        message = f"HTTP {status} from {url}" + (f": {text}" if text else "")
        retry_after = _retry_after(response) if status in (429, 503) else None
        return _Attempt(failed(message, status), is_retryable_status(status), retry_after)

    @staticmethod
    def _reason(exc: BaseException, raw_url: str, url: str) -> str:
        text = str(exc).replace(raw_url, url) or type(exc).__name__
        return one_line(text, 160)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def flagger_stop_rule(type: str) -> StopRule | None:
    """When Flagger stops calling the webhooks of ``type`` (``scheduler_hooks.go``).

    Gates and checks stop at the first failure (the step is not taken anyway), ``rollback``
    hooks at the first pass (one is enough to roll back), ``event`` hooks all run.
    """
    if type == "event":
        return None
    if type == "rollback":
        return lambda result: result.passed
    return lambda result: not result.passed


def run_all(
    runner: WebhookRunner,
    hooks: Iterable[Webhook],
    type: str,
    payload_factory: PayloadFactory,
    *,
    stop_after: StopRule | None = None,
) -> list[WebhookResult]:
    """Call each webhook of ``type`` in spec order, one after another, and return the results.

    ``payload_factory(hook)`` builds each payload at call time (event timestamps stay fresh).
    With ``stop_after``, stop after the first result it accepts (pass
    ``flagger_stop_rule(type)`` to call exactly the webhooks Flagger would). Works with any
    ``WebhookRunner``; raises ``ValueError`` for an unknown webhook type.
    """
    if type not in WEBHOOK_TYPES:
        raise ValueError(f"unknown webhook type {type!r}; known types: {', '.join(WEBHOOK_TYPES)}")
    results: list[WebhookResult] = []
    for hook in hooks:
        if hook.type != type:
            continue
        results.append(runner.run(hook, payload_factory(hook)))
        if stop_after is not None and stop_after(results[-1]):
            break
    return results


__all__ = [
    "MAX_REDIRECTS",
    "PASS_MAX_STATUS",
    "TOKEN_KEY",
    "HttpWebhookRunner",
    "PayloadFactory",
    "StopRule",
    "flagger_stop_rule",
    "is_retryable_status",
    "run_all",
]
