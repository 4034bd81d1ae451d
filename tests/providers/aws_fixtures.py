"""moto's CloudWatch in server mode on a loopback port, and known series written into it.

``running_moto()`` starts ``moto.server.ThreadedMotoServer`` on 127.0.0.1 (real HTTP, the
same botocore wire protocol as AWS); ``MotoCloudWatch.put`` writes datapoints with boto3
``put_metric_data`` at chosen timestamps, so queries through the provider have exact answers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

REGION = "eu-west-1"
ACCESS_KEY_ID = "AKIAMODELCANARYTEST"
SECRET_ACCESS_KEY = "moto-s3cret-key-never-shown"
NAMESPACE = "ModelCanary/Test"


@dataclass
class MotoCloudWatch:
    """A running moto server: its endpoint and a boto3 client to write series."""

    endpoint: str
    client: Any

    def put(
        self,
        metric: str,
        points: Sequence[tuple[float, float]],
        dimensions: Mapping[str, str],
        namespace: str = NAMESPACE,
        unit: str = "Count",
    ) -> None:
        """Write ``(unix time, value)`` datapoints of one metric with ``dimensions``."""
        dims = [{"Name": k, "Value": v} for k, v in dimensions.items()]
        self.client.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": dims,
                    "Timestamp": dt.datetime.fromtimestamp(t, dt.UTC),
                    "Value": value,
                    "Unit": unit,
                }
                for t, value in points
            ],
        )


@contextmanager
def running_moto() -> Iterator[MotoCloudWatch]:
    """moto in server mode on a free loopback port (stopped on exit)."""
    # port 0: the kernel picks the port as the server binds it (a port picked beforehand may
    # be handed to another socket before the server binds it); read back once it listens
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    client = boto3.session.Session().client(
        "cloudwatch",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    try:
        yield MotoCloudWatch(endpoint, client)
    finally:
        server.stop()
