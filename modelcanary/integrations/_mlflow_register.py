"""Registering the hook's MLflow webhook, then proving it works with test deliveries.

Two things went wrong silently before. MLflow's client retries a failing request seven times
with exponential back-off (about four minutes) and then raises a long chained traceback; a
registration talks to the server a handful of times, so here each call is retried twice,
about a second apart, within 10 s, and any failure becomes one :class:`SpecError` naming
``tracking_uri`` (or ``url``) and the likely fix. And a webhook can be registered yet never
delivered: MLflow encrypts webhook secrets with ``MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY``, and
a server started without it makes a new random key in every worker and at every restart, so
a worker that did not store the webhook cannot read it back (``InvalidToken`` in the server's
log, HTTP 500 to the client) and deliveries from it never leave. So, after registering,
MLflow's test API (``MlflowClient.test_webhook``) is asked for a few signed test deliveries
to the hook, each without retries (a retry could land on the one worker that can read the
secret and hide the others); any that fails is reported with why (MLflow cannot reach the
URL, the receiver refused the signature, the server cannot read the webhook back).

The test payload is MLflow's example event (model ``example_model``, alias ``example_alias``):
the hook logs it and ignores it, as it ignores every alias other than the challenger's.
mlflow is imported lazily, through ``client_for``.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from ..errors import SpecError, SpecIssue
from ._mlflow_policy import client_for

T = TypeVar("T")

WEBHOOK_EVENTS = [
    "model_version_alias.created",
    "model_version_alias.deleted",
    "model_version.created",
    "model_version_tag.deleted",
]
TEST_DELIVERIES = 3
"""Test deliveries asked for after registering (each may be served by another worker)."""
BOUNDED = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
"""MLflow client settings while registering (unless set in the environment already)."""
KEY_HINT = (
    "start every MLflow server worker with the same MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY (a "
    "Fernet key, kept across restarts; see docs/mlflow.md, 'Webhook secrets'): without it each "
    "worker and each restart makes its own key and cannot read webhooks another one stored"
)
_ENV_LOCK = threading.Lock()


def register_webhook(
    tracking_uri: str | None,
    url: str,
    secret: str,
    *,
    name: str = "modelcanary",
    events: Sequence[str] = tuple(WEBHOOK_EVENTS),
    test: bool = True,
) -> str:
    """Create (or update, when one of that name exists) the hook's webhook; returns its id.

    With ``test`` (default), MLflow then sends :data:`TEST_DELIVERIES` signed test deliveries
    to ``url``; the hook (``mlflow-hook run``) must be listening there with the same secret.
    Raises :class:`SpecError` (field ``tracking_uri`` or ``url``) when the server fails, within
    seconds, or when a test delivery does not arrive.
    """
    where = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or "the default tracking URI"
    with bounded_requests():
        client = client_for(tracking_uri)
        webhook_id = _registry(where, "list and register webhooks", lambda: _upsert(
            client, url, secret, name, events
        ))  # fmt: skip
    if test:
        failures = send_test_deliveries(client, webhook_id, url, where)
        if failures:
            raise SpecError(
                SpecIssue(
                    "url",
                    f"webhook {name!r} ({webhook_id}) is registered, but "
                    f"{len(failures)} of {TEST_DELIVERIES} test deliveries to {url} failed: "
                    f"{failures[0][0]}",
                    failures[0][1],
                )
            )
    return webhook_id


def send_test_deliveries(
    client: Any, webhook_id: str, url: str, where: str
) -> list[tuple[str, str]]:
    """Ask MLflow for test deliveries of the webhook; ``(problem, fix)`` of each that failed."""
    failures: list[tuple[str, str]] = []
    for _ in range(TEST_DELIVERIES):
        with bounded_requests(retries=0):
            try:
                result = client.test_webhook(webhook_id)
            except Exception as exc:  # the server could not even try (e.g. cannot decrypt)
                failures.append(
                    (f"MLflow at {where} failed to send it: {_first_line(exc)}", KEY_HINT)
                )
                continue
        if not result.success:
            failures.append(_failed_delivery(result, url))
    return failures


@contextmanager
def bounded_requests(retries: int | None = None) -> Iterator[None]:
    """MLflow's client retries, back-off and timeout bounded to seconds (see :data:`BOUNDED`);
    settings already in the environment win, except an explicit ``retries``."""
    wanted = dict(BOUNDED)
    if retries is not None:
        wanted["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(retries)
    with _ENV_LOCK:
        saved = {key: os.environ.get(key) for key in wanted}
        for key, value in wanted.items():
            if saved[key] is None or (retries is not None and key.endswith("MAX_RETRIES")):
                os.environ[key] = value
        try:
            yield
        finally:
            _restore(saved)


def _restore(saved: Mapping[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _upsert(client: Any, url: str, secret: str, name: str, events: Sequence[str]) -> str:
    for webhook in client.list_webhooks(max_results=1000):
        if webhook.name == name:
            updated = client.update_webhook(
                webhook.webhook_id, url=url, events=list(events), secret=secret, status="ACTIVE"
            )
            return str(updated.webhook_id)
    created = client.create_webhook(
        name=name,
        url=url,
        events=list(events),
        secret=secret,
        description="modelcanary: a challenger alias starts a rollout",
    )
    return str(created.webhook_id)


def _registry(where: str, what: str, call: Callable[[], T]) -> T:
    """Run one registry call; any failure is a SpecError saying what failed and the fix."""
    try:
        return call()
    except SpecError:
        raise
    except Exception as exc:
        text = _first_line(exc)
        field, hint = "tracking_uri", f"check that an MLflow >= 3.3 server answers at {where}"
        if "500" in text:
            hint = (
                "the server failed (HTTP 500; its log says why). If it was restarted or runs "
                f"several workers, {KEY_HINT}"
            )
        elif "INVALID_PARAMETER_VALUE" in text and "url" in text.lower():
            field = "url"
            hint = (
                "on the MLflow server, allow the URL: MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https "
                "for http://, MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true for private addresses"
            )
        elif "404" in text or "ENDPOINT_NOT_FOUND" in text or "FEATURE_DISABLED" in text:
            hint = (
                "webhooks need MLflow >= 3.3 with a database-backed registry "
                "(--backend-store-uri sqlite:///mlflow.db, postgresql://...)"
            )
        elif "Connection refused" in text or "Failed to establish" in text:
            hint = f"start the MLflow server, or pass the right --tracking-uri (tried {where})"
        raise SpecError(
            SpecIssue(field, f"MLflow at {where} did not {what}: {text}", hint)
        ) from None


def _failed_delivery(result: Any, url: str) -> tuple[str, str]:
    """``(problem, fix)`` of one failed test delivery (a ``WebhookTestResult``)."""
    status = result.response_status
    body = " ".join(str(result.response_body or "").split())[:200]
    if status == 401:
        return (
            f"the receiver refused it (401 {body})",
            "give `mlflow-hook register` the same --secret as `mlflow-hook run`",
        )
    if status is not None:
        return (
            f"{url} answered {status} {body}".rstrip(),
            "point --url at the receiver of `mlflow-hook run` (its --listen address)",
        )
    error = str(result.error_message or "")
    for marker, said in (("Connection refused", "connection refused"), ("timed out", "timed out")):
        if marker in error:
            error = f"{said} at {url}"
            break
    return (
        f"MLflow could not deliver it: {error[:300]}",
        "start `modelcanary mlflow-hook run` first, with a --listen address the MLflow server "
        "can reach (for http:// or a private address the server needs "
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https and MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true); "
        "or pass --no-test to register without trying it",
    )


_RETRIED = re.compile(
    r"API request to (?:endpoint )?(?P<url>\S+) failed with (?:exception .*too many "
    r"(?P<code>\d{3}) error responses|error code (?P<status>\d{3}) != 200)"
)
"""urllib3's retry report (MLflow < 3.18) or MLflow's own status report (3.18 and later)."""


def _first_line(exc: BaseException) -> str:
    """An exception as one short line (MLflow's messages embed whole tracebacks)."""
    text = str(getattr(exc, "message", "") or exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    retried = _RETRIED.search(line)
    if retried:  # the status, said plainly
        url = retried.group("url").split("?")[0]
        return f"{url} answered HTTP {retried.group('code') or retried.group('status')}"
    code = getattr(exc, "error_code", None)
    status = getattr(exc, "get_http_status_code", None)
    if isinstance(code, str) and callable(status) and line.startswith(code):
        # a JSON error from the server (RestException): ``INTERNAL_ERROR: <message>``
        detail = line[len(code) :].lstrip(": ").strip()
        return f"the server answered HTTP {status()} ({code}{': ' + detail if detail else ''})"[
            :400
        ]
    return line[:400]
