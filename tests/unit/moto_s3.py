"""An S3 bucket in moto's in-process mock, for unit tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws


@contextlib.contextmanager
def mocked_bucket(monkeypatch: pytest.MonkeyPatch, bucket: str) -> Iterator:
    """An S3 client of moto's mock, with ``bucket`` made (us-east-1)."""
    # The test session may point boto3 at the local stack's endpoint; moto must intercept.
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=bucket)
        yield client
