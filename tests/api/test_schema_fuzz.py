"""Schemathesis against the API's own OpenAPI schema: generated requests (valid and not)
to every endpoint never cause a server error or an answer the schema does not describe,
and no endpoint answers without a token."""

import json

import pytest
import schemathesis
from django.core import signals
from django.core.serializers.json import DjangoJSONEncoder
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from apps.api.models import Scope
from apps.api.services import api_client_create
from apps.core.actors import Job
from tests.factories.catalog import ProductFactory
from tests.portal.helpers import entitlement_of, new_account

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    ignored_auth,
]


def _schema():
    """The schema /api/schema/ serves, generated here so that no request (and no database)
    is needed to collect the tests; the requests then go to the WSGI application."""
    generated = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(
        json.loads(json.dumps(generated, cls=DjangoJSONEncoder))
    )
    loaded.app = get_wsgi_application()
    return loaded


schema = _schema()


@pytest.fixture(autouse=True)
def _one_transaction():
    # As Django's test client does: the test's transaction must outlive each request.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token(db):
    ProductFactory(sku="KS-FW-ADV")
    entitlement_of(new_account(account_id="0100012345"))
    _client, token = api_client_create(
        name="fuzzer", scopes=list(Scope.values), actor=Job("create_api_client")
    )
    return token


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.django_db
def test_every_endpoint_answers_as_its_schema_says(case, token):
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
