"""What every page tells the browser: no caching of what shows a code or key, a Content
Security Policy, no framing; and how long a staff member stays signed in."""

import datetime
import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from apps.api.models import Scope
from tests.api.conftest import api
from tests.factories.accounts import UserFactory
from tests.portal.helpers import entitlement_of, new_account, portal_contact

# Views that chose to be cached: published, and showing nothing secret.
CACHEABLE = {
    ".well-known/keyship-license-keys.json",
    ".well-known/keyship-license-key-revocations.json",
}


def _routes(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def _path(route: str, ssrn: str) -> str:
    """A URL of the route, with the given SSRN and 1 for any other part it takes."""
    path = re.sub(r"<(?:str:)?ssrn>", ssrn, route)
    path = re.sub(r"<line_action:\w+>", "hold", path)
    path = re.sub(r"<[^>]+>", "1", path)
    path = re.sub(r"\(\?P<app_label>[^)]*\)", "entitlements", path)
    path = re.sub(r"\(\?P<url>[^)]*\)|\([^)]*\)", "1", path)
    return "/" + path.replace("^", "").replace("$", "")


@pytest.fixture
def visitors(db):
    """A customer who sees an activated entitlement, a superuser and an API client with every
    scope, each with what they see."""
    account = new_account()
    contact = portal_contact(account)
    entitlement = entitlement_of(account, quantity=2)
    customer = Client()
    customer.force_login(contact.user)
    customer.post(reverse("portal:activate", args=[entitlement.ssrn]), {"serial_numbers": "SN-1"})
    staff = Client()
    staff.force_login(UserFactory(is_staff=True, is_superuser=True))
    erp = api(scopes=list(Scope.values))
    return {"customer": customer, "staff": staff, "erp": erp, "ssrn": entitlement.ssrn}


@pytest.mark.django_db
def test_no_page_or_download_is_kept_by_a_cache_unless_it_is_published(visitors):
    routes = sorted(set(_routes(get_resolver().url_patterns)))
    assert len(routes) > 100  # the walk reached the admin, the API and the portal
    cached = []
    for route in routes:
        if route in CACHEABLE:
            continue
        path = _path(route, visitors["ssrn"])
        for who in ("customer", "staff", "erp"):
            response = visitors[who].get(path)
            control = response.get("Cache-Control", "")
            if "no-store" not in control:
                cached.append(f"{path} as {who}: {response.status_code} {control}")
    assert not cached, "\n".join(cached)


@pytest.mark.django_db
def test_the_downloads_that_carry_keys_and_certificates_are_not_stored(visitors):
    ssrn = visitors["ssrn"]
    for who, name in (
        ("customer", "portal:keys"),
        ("customer", "portal:certificate"),
        ("customer", "portal:entitlement"),
        ("staff", "admin:index"),
        ("erp", "api:entitlement"),
    ):
        args = [] if name == "admin:index" else [ssrn]
        response = visitors[who].get(reverse(name, args=args))
        assert response.status_code == 200, name
        assert "no-store" in response["Cache-Control"], name


@pytest.mark.django_db
def test_every_page_carries_a_content_security_policy_and_refuses_framing(client):
    for path in ("/account/login/", "/admin/login/", "/api/docs/", "/verify/NOPE-NOPE-NOPE/"):
        response = client.get(path)
        directives = dict(
            part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";")
        )
        assert directives["script-src"] == "'self'", path
        assert directives["frame-ancestors"] == "'none'", path
        assert response["X-Frame-Options"] == "DENY", path
        assert response["Referrer-Policy"] == "same-origin", path


@pytest.mark.django_db
def test_a_staff_session_ends_within_hours_and_a_customer_s_lasts_two_weeks(client):
    staff = UserFactory(email="care@keyship.example", is_staff=True)
    customer = portal_contact(new_account(), email="alice@northwind.example")

    client.post(reverse("admin:login"), {"username": staff.email, "password": "password"})
    staff_cookie = client.cookies["sessionid"]
    portal = Client()
    portal.post(reverse("login"), {"username": customer.user.email, "password": "password"})
    customer_cookie = portal.cookies["sessionid"]

    assert int(staff_cookie["max-age"]) <= 8 * 60 * 60
    assert client.session.get_expiry_date() <= timezone.now() + datetime.timedelta(hours=8)
    assert int(customer_cookie["max-age"]) == 14 * 24 * 60 * 60
    # Later requests do not push the staff member's end further
    first_end = client.session.get_expiry_date()
    client.get(reverse("admin:index"))
    assert client.session.get_expiry_date() == first_end


@pytest.mark.django_db
def test_a_customer_made_staff_while_signed_in_gets_the_staff_session_s_end(client):
    customer = portal_contact(new_account(), email="alice@northwind.example")
    client.post(reverse("login"), {"username": customer.user.email, "password": "password"})
    assert client.session.get_expiry_age() == 14 * 24 * 60 * 60

    customer.user.is_staff = True
    customer.user.save()
    client.get(reverse("portal:entitlements"))

    assert client.session.get_expiry_date() <= timezone.now() + datetime.timedelta(hours=8)
