"""A password set on a login's admin page goes through user_password_set: audited with who
did it, never with the password or its hash."""

import pytest
from django.urls import reverse

from apps.core.models import AuditEvent
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db


def test_a_password_set_in_the_admin_is_audited_without_the_password(admin_client, admin_user):
    staff = UserFactory(is_staff=True)
    url = reverse("admin:auth_user_password_change", args=[staff.pk])

    response = admin_client.post(
        url,
        {
            "password1": "another-long-Passphrase-7",
            "password2": "another-long-Passphrase-7",
            "usable_password": "true",
        },
    )

    assert response.status_code == 302
    staff.refresh_from_db()
    assert staff.check_password("another-long-Passphrase-7")
    event = AuditEvent.objects.get(action="user.password_set", target_id=str(staff.pk))
    assert event.actor == admin_user
    assert "Passphrase" not in str(event.data) and staff.password not in str(event.data)


def test_turning_password_sign_in_off_in_the_admin_is_audited(admin_client, admin_user):
    staff = UserFactory(is_staff=True)
    staff.set_password("a-long-Passphrase-9")
    staff.save()
    url = reverse("admin:auth_user_password_change", args=[staff.pk])

    response = admin_client.post(url, {"usable_password": "false", "unset-password": "1"})

    assert response.status_code == 302
    staff.refresh_from_db()
    assert not staff.has_usable_password()
    event = AuditEvent.objects.get(action="user.password_set", target_id=str(staff.pk))
    assert event.data == {"usable_password": {"old": True, "new": False}}
