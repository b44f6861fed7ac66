import pytest
from celery import current_app
from django.db import connection


@pytest.mark.django_db
def test_healthz_reports_database_and_broker_up(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok", "status": "ok"}


@pytest.mark.django_db
def test_healthz_answers_503_when_the_broker_is_down(client, monkeypatch):
    # A port where nothing listens: the connection is refused, as with a stopped broker.
    for name in ("broker_url", "broker_write_url"):
        monkeypatch.setattr(current_app.conf, name, "redis://127.0.0.1:1/0")

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["broker"].startswith("down")
    assert response.json()["database"] == "ok"


@pytest.mark.postgres  # the test database of SQLite lives in memory and cannot go away
@pytest.mark.django_db(transaction=True)
def test_healthz_answers_503_when_the_database_is_down(client):
    original = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict["PORT"] = "1"  # nothing listens there: a stopped server
    try:
        response = client.get("/healthz")
    finally:
        connection.close()
        connection.settings_dict.update(original)

    assert response.status_code == 503
    assert response.json()["database"].startswith("down")
