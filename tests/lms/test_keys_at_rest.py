"""Legacy keys at rest: sealed in the database, and the admin's upload kept on the server."""

import datetime

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from apps.catalog.models import DeliveryMethod
from apps.core.actors import Job
from apps.core.models import AuditEvent
from apps.lms.models import LegacyKey
from apps.lms.services import legacy_keys_import
from tests.factories.accounts import UserFactory
from tests.factories.catalog import ProductFactory
from tests.factories.lms import LegacyKeyFactory

pytestmark = pytest.mark.django_db
IMPORT = reverse("admin:lms_legacykey_import")


def test_the_database_alone_does_not_reveal_a_legacy_key():
    ProductFactory(sku="OLD-FW", delivery_method=DeliveryMethod.HERITAGE_KEY)
    legacy_keys_import(
        text="sku,license_key\nOLD-FW,SECRET-LEGACY-KEY-0001\n", actor=Job("import_legacy_keys")
    )

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM lms_legacykey")
        stored = " ".join(str(value) for row in cursor.fetchall() for value in row)

    assert "SECRET-LEGACY-KEY-0001" not in stored
    assert LegacyKey.objects.get().license_key == "SECRET-LEGACY-KEY-0001"


def test_a_key_already_in_a_pool_is_found_by_its_digest_and_never_stored_twice():
    ProductFactory(sku="OLD-FW", delivery_method=DeliveryMethod.HERITAGE_KEY)
    ProductFactory(sku="NEW-FW", delivery_method=DeliveryMethod.HERITAGE_KEY)
    legacy_keys_import(
        text="sku,license_key\nOLD-FW,SECRET-LEGACY-KEY-0001\n", actor=Job("import_legacy_keys")
    )

    again = legacy_keys_import(
        text="sku,license_key\nOLD-FW,SECRET-LEGACY-KEY-0001\n", actor=Job("import_legacy_keys")
    )
    assert ("1 key(s) already in their pools", "unchanged") in again.rows
    with pytest.raises(Exception, match='already in the pool of "OLD-FW"'):
        legacy_keys_import(
            text="sku,license_key\nNEW-FW,SECRET-LEGACY-KEY-0001\n", actor=Job("import_legacy_keys")
        )
    assert LegacyKey.objects.count() == 1


def big_key_file(count=9000):
    # About 3 MB: beyond the 2.5 MB Django takes in a form field, so it cannot travel back
    # through the page.
    return "sku,license_key\n" + "".join(
        f"OLD-FW,KEY-{n:06d}-{'A' * 320}-{n:06d}\n" for n in range(count)
    )


def test_the_preview_shows_no_key_and_a_large_file_is_imported_by_its_upload_id(admin_client):
    ProductFactory(sku="OLD-FW", delivery_method=DeliveryMethod.HERITAGE_KEY)
    text = big_key_file()
    assert len(text) > 2_621_440

    preview = admin_client.post(IMPORT, {"file": SimpleUploadedFile("k.csv", text.encode())})
    page = preview.content.decode()
    assert "9000 new keys" in page and "********0000" in page
    assert "KEY-000000-" not in page and "A" * 320 not in page
    assert not LegacyKey.objects.exists()

    upload = preview.context["upload"]
    done = admin_client.post(IMPORT, {"confirm": "1", "upload": str(upload.pk)})
    assert done.status_code == 302
    assert LegacyKey.objects.filter(product__sku="OLD-FW").count() == 9000
    # Imported, the upload is gone: confirming again imports nothing and says why.
    again = admin_client.post(IMPORT, {"confirm": "1", "upload": str(upload.pk)}, follow=True)
    assert "upload the file again" in again.content.decode()


def test_only_the_user_who_uploaded_a_file_confirms_it_and_only_before_it_expires(
    admin_client, client
):
    ProductFactory(sku="OLD-FW", delivery_method=DeliveryMethod.HERITAGE_KEY)
    good = "sku,license_key\nOLD-FW,SECRET-KEY-0001\n"
    upload = admin_client.post(
        IMPORT, {"file": SimpleUploadedFile("k.csv", good.encode())}
    ).context["upload"]

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    other = client.post(IMPORT, {"confirm": "1", "upload": str(upload.pk)})
    assert "upload the file again" in other.content.decode()
    assert not LegacyKey.objects.exists()

    later = datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(hours=2)
    with time_machine.travel(later, tick=False):
        late = admin_client.post(IMPORT, {"confirm": "1", "upload": str(upload.pk)})
    assert "upload the file again" in late.content.decode()
    assert not LegacyKey.objects.exists()


def test_a_key_is_read_on_its_page_never_changed_and_added_once(admin_client, admin_user):
    key, other = LegacyKeyFactory(license_key="K-ONE-0001"), LegacyKeyFactory()
    url = reverse("admin:lms_legacykey_change", args=[key.pk])
    page = admin_client.get(url).content.decode()
    assert "K-ONE-0001" in page and 'name="license_key"' not in page

    changed = admin_client.post(url, {"product": key.product_id, "license_key": "K-ONE-0002"})
    assert changed.status_code == 403
    key.refresh_from_db()
    assert key.license_key == "K-ONE-0001"

    add = reverse("admin:lms_legacykey_add")
    form = {"product": key.product_id, "extra": "{}"}
    taken = admin_client.post(add, {**form, "license_key": other.license_key})
    assert "This key is in a pool already." in taken.content.decode()
    admin_client.post(add, {**form, "license_key": " K-ONE-0002 "})
    added = LegacyKey.objects.get(product=key.product, pk__gt=other.pk)
    assert added.license_key == "K-ONE-0002"
    event = AuditEvent.objects.get(action="legacy_keys.imported")
    assert event.actor == admin_user and "K-ONE-0002" not in str(event.data) + event.message
