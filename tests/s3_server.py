"""A real S3 server for tests of `s3://` locations: moto's server, in this process, on
127.0.0.1 (a free port), reached over HTTP by pyarrow here and by the `city-usage` processes a
test starts (`S3Server.env` holds the standard AWS variables that point at it).

The distributed tests get theirs from cluster/up.sh instead; this one needs no other server,
so it is never skipped."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow.fs as pafs
import pytest
from moto.server import ThreadedMotoServer

from usage_model.storage import Location, location, s3_options_from_env


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true"}

    def new_bucket(self) -> str:
        """A fresh, empty bucket; returns its `s3://` URI."""
        name = f"test-{uuid.uuid4().hex[:12]}"
        pafs.S3FileSystem(**s3_options_from_env(self.env),
                          allow_bucket_creation=True).create_dir(name)
        return f"s3://{name}"

    def location(self, uri: str) -> Location:
        return location(uri, s3_options_from_env(self.env))


@pytest.fixture(scope="session", name="s3")
def s3_fixture() -> Iterator[S3Server]:
    """The fixture `s3` (import `s3_fixture` into a test module to use it)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()
