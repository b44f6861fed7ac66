"""Signing in and out, throttled logins, setting a password by email, choosing a language."""

import re

import pytest
import redis
from axes.models import AccessAttempt
from django.core import mail
from django.core.cache import cache
from django.test import Client, TestCase
from django.urls import reverse

from apps.outbox.models import Delivery, DeliveryKind, DeliveryStatus
from tests.portal.helpers import portal_contact

pytestmark = pytest.mark.django_db
LOGIN = reverse("login")


def _sign_in(client, email, password="password"):
    return client.post(LOGIN, {"username": email, "password": password})


def test_a_contact_signs_in_with_email_and_password_and_out_again(client):
    contact = portal_contact(email="alice@northwind.example")

    response = _sign_in(client, "Alice@Northwind.example")

    assert response.url == reverse("portal:entitlements")
    assert client.get(reverse("portal:entitlements")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("portal:entitlements")).url.startswith(LOGIN)
    assert contact.user.email in _sign_in(client, contact.user.email, "wrong").content.decode()


def test_pages_of_the_portal_ask_a_visitor_to_sign_in(client):
    for name in ("portal:entitlements", "portal:access", "portal:activate-with-code"):
        assert client.get(reverse(name)).url.startswith(f"{LOGIN}?next=")


def test_five_wrong_passwords_lock_the_address_out_even_for_the_right_one(client):
    portal_contact(email="alice@northwind.example")
    for _ in range(4):
        assert _sign_in(client, "alice@northwind.example", "guess").status_code == 200
    assert _sign_in(client, "alice@northwind.example", "guess").status_code == 429

    locked = _sign_in(client, "alice@northwind.example", "password")

    assert locked.status_code == 429
    assert "Too many sign-in attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_contact_without_a_password_sets_one_through_the_emailed_link(client):
    portal_contact(email="bob@blueharbor.example").user.set_unusable_password()
    contact = portal_contact(email="carol@blueharbor.example")
    contact.user.set_unusable_password()
    contact.user.save()

    with TestCase.captureOnCommitCallbacks(execute=True):  # the email leaves on commit
        client.post(reverse("password_reset"), {"email": "carol@blueharbor.example"})
    (message,) = mail.outbox
    link = re.search(r"http://testserver(/account/reset/\S+)", message.body).group(1)
    form = client.get(link, follow=True)
    client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a long pass phrase 42", "new_password2": "a long pass phrase 42"},
    )

    assert _sign_in(client, "carol@blueharbor.example", "a long pass phrase 42").status_code == 302


def test_the_language_choice_changes_the_pages_and_the_contacts_emails(client):
    contact = portal_contact()
    client.force_login(contact.user)

    client.post(
        reverse("portal:language"), {"language": "de", "next": reverse("portal:entitlements")}
    )

    contact.refresh_from_db()
    assert contact.language == "de"
    assert 'lang="de"' in client.get(reverse("portal:entitlements")).content.decode()


@pytest.mark.redis
def test_in_production_the_lockout_counts_live_in_redis(client, settings):
    # Given the production set-up: the cache (and with it axes' counts) in Redis
    url = settings.CELERY_BROKER_URL.rsplit("/", 1)[0] + "/14"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    }
    settings.AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
    cache.clear()
    portal_contact(email="alice@northwind.example")
    try:
        # When five wrong passwords come in
        for _ in range(5):
            _sign_in(client, "alice@northwind.example", "guess")

        # Then another web process (any client from that address) is refused too, and the
        # count is in Redis, not in the database
        assert _sign_in(Client(), "alice@northwind.example").status_code == 429
        assert redis.Redis.from_url(url).dbsize() > 0
        assert not AccessAttempt.objects.exists()
    finally:
        cache.clear()


def test_a_password_reset_link_waits_on_the_outbox_sealed_and_leaves_on_commit(client):
    portal_contact(email="carol@blueharbor.example")

    with TestCase.captureOnCommitCallbacks() as handed_over:
        client.post(reverse("password_reset"), {"email": "carol@blueharbor.example"})

    # Queued as a row, the link sealed at rest; nothing sent before the commit
    delivery = Delivery.objects.get(kind=DeliveryKind.PASSWORD_RESET)
    assert "/account/reset/" in delivery.content
    assert "/account/reset/" not in delivery.content_sealed
    assert mail.outbox == [] and delivery.recipient == "carol@blueharbor.example"
    for callback in handed_over:
        callback()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert [message.to for message in mail.outbox] == [["carol@blueharbor.example"]]
