"""A control character (a NUL above all, which PostgreSQL refuses in text) in what is typed
into Find, the "who sees what" page or the public verification address is no part of any
key: the page says nothing matches, never a server error."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

TYPED = ["ab\x00c", "\x00", "a@b\x00.example", "0100\x0012345", "SO-1\x00", "C-1\x07"]


@pytest.fixture
def admin_client_no_raise(admin_client):
    admin_client.raise_request_exception = False
    return admin_client


@pytest.mark.parametrize("typed", TYPED)
def test_find_says_nothing_matches_a_term_with_a_control_character(admin_client_no_raise, typed):
    response = admin_client_no_raise.post(reverse("admin:find"), {"q": typed})

    assert response.status_code == 200
    assert "Nothing matches" in response.content.decode()


@pytest.mark.parametrize("typed", TYPED)
def test_who_sees_what_finds_nobody_for_a_key_with_a_control_character(
    admin_client_no_raise, typed
):
    response = admin_client_no_raise.get(
        reverse("admin:visibility"), {"contact": typed, "ssrn": typed}
    )

    assert response.status_code == 200


def test_the_public_verification_page_of_a_nul_is_not_found(client):
    client.raise_request_exception = False

    response = client.get("/verify/AB%00CD/")

    assert response.status_code == 404
