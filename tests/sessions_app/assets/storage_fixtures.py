"""Storage fixtures for the STORAGE tests: a filesystem asset store in tmp_path, and a real
S3-protocol server (moto's server mode) on loopback with a fresh bucket per test.

Import the fixtures into a test module: `from .storage_fixtures import fs_store, s3_store, moto_endpoint`.
moto is a dev requirement, so these never skip.
"""

from __future__ import annotations

import socket
import uuid

import boto3
import pytest

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint():
    """moto's S3 server on 127.0.0.1:<free port> for the whole test session."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION, **CREDENTIALS)


@pytest.fixture
def fs_store(settings, tmp_path):
    """STORAGES["assets"] = a FileSystemStorage under tmp_path (tiers are folders in it)."""
    root = tmp_path / "assets-store"
    settings.STORAGES = {
        **settings.STORAGES,
        "assets": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    settings.ASSET_TMP_DIR = tmp_path / "tmp"
    return root


@pytest.fixture
def s3_store(settings, tmp_path, moto_endpoint):
    """STORAGES["assets"] = django-storages' S3Storage on a new bucket of the moto server.

    Returns (boto3 client, bucket name).
    """
    bucket = f"assets-{uuid.uuid4().hex[:12]}"
    client = s3_client(moto_endpoint)
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "assets": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": moto_endpoint,
                "region_name": REGION,
                "access_key": CREDENTIALS["aws_access_key_id"],
                "secret_key": CREDENTIALS["aws_secret_access_key"],
                "file_overwrite": True,
                "querystring_auth": True,
                "signature_version": "s3v4",
            },
        },
    }
    settings.ASSET_BUCKET = bucket
    settings.ASSET_TMP_DIR = tmp_path / "tmp"
    return client, bucket
