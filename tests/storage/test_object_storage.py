"""Certificates on an object store that every host reaches (AWS_STORAGE_BUCKET_NAME): the
worker's render lands in the bucket as a private object, and the portal and the admin stream
it to whoever may see it, and to nobody else."""

import hashlib
import json
import urllib.error
import urllib.request

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from apps.backoffice.roles import CUSTOMER_CARE, OPERATIONS
from apps.entitlements.models import CertificateStatus
from apps.entitlements.tasks import certificate_render_task
from config.storage import object_storage
from tests.core.test_production_settings import PRODUCTION_ENV, _run
from tests.factories.accounts import UserFactory
from tests.factories.entitlements import CertificateFactory
from tests.portal.helpers import entitlement_of, new_account, portal_contact
from tests.s3 import CREDENTIALS, REGION, s3_client, s3_server

pytestmark = pytest.mark.django_db

BUCKET = "keyship-certificates"


@pytest.fixture
def bucket(settings, monkeypatch):
    """The default storage is a bucket on a fresh S3 server, as the settings make it from
    AWS_STORAGE_BUCKET_NAME and AWS_S3_ENDPOINT_URL; yields a client of that server."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with s3_server() as endpoint:
        client = s3_client(endpoint)
        client.create_bucket(Bucket=BUCKET)
        settings.STORAGES = {
            **settings.STORAGES,
            "default": object_storage(bucket=BUCKET, endpoint_url=endpoint, region=REGION),
        }
        client.endpoint = endpoint
        yield client


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_rendered_certificate_is_a_private_object_of_the_bucket(bucket):
    northwind = new_account(name="Northwind Networks")
    entitlement = entitlement_of(northwind, certificate=False)
    certificate = CertificateFactory(entitlement=entitlement)

    certificate_render_task(certificate.pk)  # what a worker of the pdf queue runs

    certificate.refresh_from_db()
    assert certificate.status == CertificateStatus.READY
    key = f"certificates/{entitlement.ssrn}/v1.pdf"
    assert certificate.file.name == key
    stored = bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert stored.startswith(b"%PDF")
    assert hashlib.sha256(stored).hexdigest() == certificate.sha256
    # Only its owner (Keyship's credentials) may read it: no grant to anyone else, and an
    # unsigned request for the object's address is refused.
    grants = bucket.get_object_acl(Bucket=BUCKET, Key=key)["Grants"]
    assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"]
    assert all(grant["Grantee"]["Type"] == "CanonicalUser" for grant in grants)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{bucket.endpoint}/{BUCKET}/{key}", timeout=10)
    assert refused.value.code == 403


def test_the_portal_streams_the_certificate_to_its_owner_and_to_no_stranger(bucket):
    northwind = new_account(name="Northwind Networks")
    alice = portal_contact(northwind)
    stranger = portal_contact(new_account(name="Contoso"))
    entitlement = entitlement_of(northwind, certificate=False)
    certificate = CertificateFactory(entitlement=entitlement)
    certificate_render_task(certificate.pk)
    key = f"certificates/{entitlement.ssrn}/v1.pdf"
    stored = bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    download = reverse("portal:certificate", args=[entitlement.ssrn])

    response = _signed_in(alice.user).get(download)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "attachment" in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == stored
    assert "no-store" in response["Cache-Control"]
    # No address of the object, signed or not, goes to the browser.
    assert "Location" not in response
    assert _signed_in(stranger.user).get(download).status_code == 404
    assert Client().get(download).status_code == 302  # to the login page


def test_the_admin_streams_it_to_customer_care_only(bucket):
    entitlement = entitlement_of(new_account(), certificate=False)
    certificate = CertificateFactory(entitlement=entitlement)
    certificate_render_task(certificate.pk)
    download = reverse("admin:entitlements_certificate_download", args=[certificate.pk])
    care = UserFactory(is_staff=True)
    care.groups.add(Group.objects.get(name=CUSTOMER_CARE))
    ops = UserFactory(is_staff=True)
    ops.groups.add(Group.objects.get(name=OPERATIONS))

    response = _signed_in(care).get(download)

    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert _signed_in(ops).get(download).status_code == 403


def test_a_render_stored_by_a_worker_killed_before_its_row_said_so_is_replaced(bucket):
    entitlement = entitlement_of(new_account(), certificate=False)
    certificate = CertificateFactory(entitlement=entitlement)
    key = f"certificates/{entitlement.ssrn}/v1.pdf"
    bucket.put_object(Bucket=BUCKET, Key=key, Body=b"half a PDF")

    certificate_render_task(certificate.pk)

    certificate.refresh_from_db()
    assert certificate.file.name == key  # the same name, not a second object beside it
    stored = bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == certificate.sha256
    listed = bucket.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert [item["Key"] for item in listed] == [key]


def _storage_of(tmp_path, **env) -> str:
    """The default storage and its options as production's settings make them from `env`."""
    script = (
        "from django.conf import settings; import json; "
        "print(json.dumps(settings.STORAGES['default'], default=str)); "
        "print(settings.VAR_DIR)"
    )
    result = _run("shell", "-c", script, **PRODUCTION_ENV, VAR_DIR=str(tmp_path / "var"), **env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_settings_name_the_bucket_from_the_environment_and_keep_the_disk_without(tmp_path):
    on_disk = _storage_of(tmp_path)
    assert "FileSystemStorage" in on_disk and str(tmp_path / "var") in on_disk

    in_bucket = json.loads(
        _storage_of(
            tmp_path,
            AWS_STORAGE_BUCKET_NAME="keyship-certificates",
            AWS_S3_ENDPOINT_URL="https://s3.internal.example:9000",
            AWS_S3_ADDRESSING_STYLE="path",
        ).splitlines()[-2]
    )
    assert in_bucket["BACKEND"] == "storages.backends.s3.S3Storage"
    options = in_bucket["OPTIONS"]
    assert options["bucket_name"] == "keyship-certificates"
    assert options["endpoint_url"] == "https://s3.internal.example:9000"
    assert options["addressing_style"] == "path"
    assert options["default_acl"] == "private" and options["querystring_expire"] <= 60
    # The credentials are boto3's to read from the environment, never the settings'.
    assert not {"access_key", "secret_key"} & set(options)
