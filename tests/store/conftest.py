from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def moto_s3_endpoint():
    """A moto S3 server over real HTTP on 127.0.0.1 (no in-process patching)."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_client(moto_s3_endpoint):
    import boto3

    return boto3.client(
        "s3", endpoint_url=moto_s3_endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test-secret",
    )
