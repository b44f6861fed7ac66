from django.db import connection

from apps.core import codes, sealing
from tests.factories.entitlements import EntitlementFactory


def test_a_sealed_code_opens_again_and_its_digest_is_keyed(settings):
    code = codes.new_activation_code()
    digest = sealing.code_digest(code)

    assert sealing.unseal(sealing.seal(code)) == code
    settings.ACTIVATION_CODE_KEY = "another key"
    assert sealing.code_digest(code) != digest


def test_the_database_alone_does_not_reveal_an_activation_code(db):
    entitlement = EntitlementFactory()
    code = entitlement.activation_code

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM entitlements_entitlement WHERE id = %s", [entitlement.pk])
        stored = " ".join(str(value) for value in cursor.fetchone())

    assert code not in stored
    assert code.replace("-", "") not in stored
