"""An S3-compatible server for the tests: moto's server mode, in a thread of the test's own
process or as a process of its own (`python -m moto.server`). Pure Python from PyPI, it speaks
S3's protocol (signed requests, buckets, objects, ACLs: an anonymous GET of a private object
is refused with 403) without a server binary to fetch."""

import contextlib
import urllib.request

import boto3
from moto.server import ThreadedMotoServer

# moto takes any credentials; the storage and the tests sign with these.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "keyship-test", "AWS_SECRET_ACCESS_KEY": "keyship-test-secret"}
REGION = "us-east-1"


def s3_client(endpoint_url: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


@contextlib.contextmanager
def s3_server():
    """A fresh S3 server on 127.0.0.1 (a free port), with no bucket; yields its address."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        # moto keeps its buckets in the process: forget the last test's.
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
        yield endpoint
    finally:
        server.stop()
