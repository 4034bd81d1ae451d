"""Amazon CloudWatch metric provider: ``GetMetricData`` with metric math, through boto3.

The custom query is Flagger's CloudWatch query: a JSON list of ``MetricDataQueries``
(``MetricStat`` and metric-math ``Expression`` entries), rendered with the same template
variables as the Prometheus provider except ``{{ interval }}``, which is whole seconds here
(usable as a ``Period``). Exactly one entry may return data (``ReturnData`` true or unset);
its newest datapoint in ``[end - interval, end)`` is the value. An empty result is NoData.

boto3 is the optional ``cloudwatch`` extra, imported when a provider is built. Errors are
classified for the engine: throttling, HTTP 5xx, ``InternalError`` results, connection
failures and timeouts are :class:`TransientProviderError`; validation, unknown
credentials and access denied are :class:`PermanentProviderError`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from ..analysis._measurements import IntervalData, NoData, Scalar, VersionData, Window
from ..analysis._measurements import scalar as to_scalar
from ..errors import PermanentProviderError, SpecError, SpecIssue, TransientProviderError
from ..ports import MetricProvider
from ..spec import MetricProviderSpec, MetricSpec, ModelRollout, SecretRef
from ..spec._base import parse_duration
from ._context import ProviderContext
from ._credentials import env_parts, secret_keys
from ._httpapi import render_query, safe_address
from ._online import OnlineCheck

ACCESS_KEY, SECRET_KEY, TOKEN_KEY = (
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
)
"""Kubernetes Secret keys of static AWS credentials (the session token is optional)."""
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "LimitExceededException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServiceError",
        "InternalServiceFault",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
"""AWS error codes worth retrying (besides any HTTP 5xx)."""
AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "MissingAuthenticationToken",
    }
)
NO_BUILTIN = (
    "cloudwatch answers custom queries only: built-in SLIs are not supported by this "
    "provider (fix: read them with the embedded, prometheus or opentelemetry provider and "
    "give CloudWatch metrics a query)"
)
MAX_PAGES = 10


class CloudWatchProvider(OnlineCheck):
    """Custom ``GetMetricData`` queries against CloudWatch (or moto/LocalStack at ``endpoint``)."""

    name = "cloudwatch"

    def __init__(
        self,
        region: str,
        *,
        endpoint: str | None = None,
        credentials: tuple[str, str, str | None] | None = None,
        timeout: float = 5.0,
        max_attempts: int = 2,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.region = region
        self.endpoint = endpoint
        self.timeout = timeout
        keys: dict[str, Any] = {}
        if credentials is not None:
            keys = {
                "aws_access_key_id": credentials[0],
                "aws_secret_access_key": credentials[1],
                "aws_session_token": credentials[2],
            }
        config = Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"total_max_attempts": max(1, max_attempts), "mode": "standard"},
            user_agent_extra="modelcanary",
        )
        self._client = boto3.session.Session().client(
            "cloudwatch", region_name=region, endpoint_url=endpoint, config=config, **keys
        )

    def __repr__(self) -> str:
        where = f", endpoint={safe_address(self.endpoint)!r}" if self.endpoint else ""
        return f"CloudWatchProvider(region={self.region!r}{where})"

    def _where(self) -> str:
        endpoint = f", {safe_address(self.endpoint)}" if self.endpoint else ""
        return f"CloudWatch ({self.region}{endpoint})"

    def _call(self, operation: str, **params: Any) -> Any:
        """One API call; boto/botocore failures become transient or permanent provider errors."""
        from botocore import exceptions as bx

        try:
            return getattr(self._client, operation)(**params)
        except bx.ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            message = f"{self._where()} {operation}: {code}: {error.get('Message', '')}"
            if code in TRANSIENT_CODES or status >= 500 or status == 429:
                raise TransientProviderError(message) from None
            hint = (
                "check the credentials (provider.secretRef or the default AWS chain) and "
                "their cloudwatch:GetMetricData/ListMetrics permissions"
                if code in AUTH_CODES
                else "check the MetricDataQueries JSON (try it with aws cloudwatch get-metric-data)"
            )
            raise PermanentProviderError(f"{message} (fix: {hint})") from None
        except (bx.ConnectTimeoutError, bx.ReadTimeoutError):
            raise TransientProviderError(
                f"{self._where()} did not answer within {self.timeout:g}s"
            ) from None
        except (bx.ConnectionError, bx.HTTPClientError) as exc:
            raise TransientProviderError(
                f"{self._where()} is unreachable ({type(exc).__name__})"
            ) from None
        except bx.ParamValidationError as exc:
            raise PermanentProviderError(
                f"{self._where()} {operation}: invalid request: {exc} "
                "(fix: check the MetricDataQueries JSON fields)"
            ) from None
        except bx.NoCredentialsError:
            raise PermanentProviderError(
                f"{self._where()}: no AWS credentials (fix: set provider.secretRef, or "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile or an IAM role)"
            ) from None
        except bx.BotoCoreError as exc:
            raise PermanentProviderError(f"{self._where()} {operation}: {exc}") from None

    # -- MetricProvider --------------------------------------------------------------------
    def probe(self) -> str:
        """Online when a cheap ``ListMetrics`` (one namespace, first page) answers."""
        self._call("list_metrics", Namespace="modelcanary/online-check")
        return ""

    def query(self, metric: MetricSpec, rollout: ModelRollout, window: Window) -> Scalar | NoData:
        """The newest datapoint of the one returned query in ``[end - interval, end)``."""
        if not metric.query:
            raise PermanentProviderError(
                f"metric {metric.name!r} has no query for cloudwatch "
                "(fix: set query to a JSON list of MetricDataQueries)"
            )
        seconds = parse_duration(metric.interval) if metric.interval else window.seconds
        text = render_query(metric, rollout, window, self.name, duration=whole_seconds)
        queries = parse_queries(text, metric.name)
        returned = [q["Id"] for q in queries if q.get("ReturnData", True) is not False]
        if len(returned) != 1:
            raise PermanentProviderError(
                f"metric {metric.name!r}: {len(returned)} MetricDataQueries return data "
                f"({', '.join(map(str, returned)) or 'none'}); exactly one must "
                '(fix: set "ReturnData": false on the others)'
            )
        end = dt.datetime.fromtimestamp(window.end, dt.UTC)
        params: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": end - dt.timedelta(seconds=seconds),
            "EndTime": end,
            "ScanBy": "TimestampDescending",
        }
        points: list[tuple[dt.datetime, float]] = []
        for _ in range(MAX_PAGES):
            answer = self._call("get_metric_data", **params)
            for result in answer.get("MetricDataResults", []):
                if result.get("Id") != returned[0]:
                    continue
                self._check_status(metric, result)
                points += zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
            if not answer.get("NextToken"):
                break
            params["NextToken"] = answer["NextToken"]
        if not points:
            return NoData(f"CloudWatch query for {metric.name} returned no datapoints")
        return to_scalar(max(points, key=lambda p: p[0])[1])

    def _check_status(self, metric: MetricSpec, result: Mapping[str, Any]) -> None:
        status = result.get("StatusCode", "Complete")
        detail = "; ".join(str(m.get("Value", "")) for m in result.get("Messages", []))
        if status == "InternalError":
            raise TransientProviderError(f"{self._where()}: {metric.name}: InternalError {detail}")
        if status == "Forbidden":
            raise PermanentProviderError(
                f"{self._where()}: {metric.name}: Forbidden {detail} "
                "(fix: grant access to the queried metrics)"
            )

    def collect(self, rollout: ModelRollout, window: Window) -> IntervalData:
        """NoData for every built-in SLI: CloudWatch answers custom queries only."""
        gap = NoData(NO_BUILTIN)
        return IntervalData(
            window,
            VersionData("challenger", gap, gap, gap),
            VersionData("champion", gap, gap, gap),
            NoData(NO_BUILTIN),
        )


def whole_seconds(seconds: float) -> str:
    """``{{ interval }}`` for CloudWatch: whole seconds (at least 1), usable as a ``Period``."""
    return str(max(1, round(seconds)))


def parse_queries(text: str, metric: str) -> list[dict[str, Any]]:
    """The rendered query as a list of MetricDataQueries (a single object is wrapped)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PermanentProviderError(
            f"metric {metric!r}: the CloudWatch query is not JSON ({exc.msg} at line "
            f"{exc.lineno} column {exc.colno}) (fix: a JSON list of MetricDataQueries, as "
            "in Flagger's CloudWatch MetricTemplate)"
        ) from None
    items = [data] if isinstance(data, dict) else data
    if (
        not isinstance(items, list)
        or not items
        or not all(isinstance(q, dict) and q.get("Id") for q in items)
    ):
        raise PermanentProviderError(
            f"metric {metric!r}: the CloudWatch query must be a non-empty JSON list of "
            'MetricDataQueries, each with an "Id" (fix: [{"Id": "m1", "MetricStat": {...}}])'
        )
    return items


def credentials_for(
    secret_ref: SecretRef, ctx: ProviderContext, path: str
) -> tuple[str, str, str | None]:
    """(access key id, secret access key, session token) that ``secretRef`` points to.

    ``env`` names a variable holding ``ACCESS_KEY_ID:SECRET_ACCESS_KEY`` (``:SESSION_TOKEN``
    optional); ``name`` a Kubernetes Secret with ``aws_access_key_id`` and
    ``aws_secret_access_key`` keys (``aws_session_token`` optional).
    """
    if secret_ref.env is not None:
        parts = env_parts(
            secret_ref,
            ctx.env,
            path,
            what="ACCESS_KEY_ID:SECRET_ACCESS_KEY",
            form="ACCESS_KEY_ID:SECRET_ACCESS_KEY",
            example="AKIA...:... (an extra :SESSION_TOKEN is optional)",
            counts=(2, 3),
        )
        return parts[0], parts[1], parts[2] if len(parts) == 3 else None
    found = secret_keys(
        secret_ref,
        (ACCESS_KEY, SECRET_KEY, TOKEN_KEY),
        reader=ctx.secret_reader,
        namespace=ctx.namespace,
        path=path,
        required=(ACCESS_KEY, SECRET_KEY),
        hint=f"kubectl create secret generic {secret_ref.name} "
        f"--from-literal={ACCESS_KEY}=... --from-literal={SECRET_KEY}=...",
    )
    return str(found[ACCESS_KEY]), str(found[SECRET_KEY]), found[TOKEN_KEY]


def factory(spec: MetricProviderSpec, ctx: ProviderContext) -> MetricProvider:
    """The provider for ``type: cloudwatch`` (region required; address = custom endpoint)."""
    if not spec.region:
        raise SpecError(
            SpecIssue(
                f"{ctx.path}.region",
                "a cloudwatch provider needs a region",
                "e.g. region: us-east-1",
            )
        )
    try:
        import boto3  # noqa: F401
    except ImportError:
        raise SpecError(
            SpecIssue(
                f"{ctx.path}.type",
                "the cloudwatch provider needs boto3, which is not installed",
                "pip install 'modelcanary[cloudwatch]'",
            )
        ) from None
    if spec.address and not spec.address.startswith(("http://", "https://")):
        raise SpecError(
            SpecIssue(
                f"{ctx.path}.address",
                f"cloudwatch endpoint {safe_address(spec.address)!r} is not an http(s) URL",
                "omit it for AWS, or e.g. address: http://localhost:4566 (LocalStack)",
            )
        )
    credentials = None
    if spec.secret_ref is not None:
        credentials = credentials_for(spec.secret_ref, ctx, f"{ctx.path}.secretRef")
    return CloudWatchProvider(
        spec.region,
        endpoint=spec.address or None,
        credentials=credentials,
        timeout=float(ctx.options.get("timeout", 5.0)),
    )


__all__ = ["CloudWatchProvider", "credentials_for", "factory", "parse_queries"]
