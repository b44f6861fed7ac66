"""The import commands read what they cannot import: exit 1 with the reason, no traceback."""

import json
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from apps.catalog.models import Product
from apps.lms.models import LegacyKey
from apps.orders.models import SalesOrder
from tests.factories.catalog import ProductFactory

pytestmark = pytest.mark.django_db


def test_import_orders_exits_1_on_deep_nesting_with_a_message(tmp_path):
    path = tmp_path / "orders.json"
    path.write_text("[" * 50_000)

    # As an operator runs it: a process, its exit status and its standard error.
    run = subprocess.run(
        [sys.executable, "manage.py", "import_orders", str(path)],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 1
    assert f"{path}: nested deeper than 64 levels" in run.stderr
    assert "Traceback" not in run.stderr
    assert not SalesOrder.objects.exists()


@pytest.mark.parametrize("command", ["import_orders", "import_catalog", "import_accounts"])
def test_every_json_import_refuses_deep_nesting(tmp_path, capsys, command):
    path = tmp_path / "file.json"
    path.write_text('{"products": ' + "[" * 65 + "]" * 65 + "}")

    with pytest.raises(CommandError, match="1 error"):
        call_command(command, str(path))

    assert f"{path}: nested deeper than 64 levels" in capsys.readouterr().err
    assert not Product.objects.exists()


def test_import_catalog_names_the_field_with_a_control_character(tmp_path, capsys):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"products": [{"sku": "KS\tX", "name": "X"}]}))

    with pytest.raises(CommandError):
        call_command("import_catalog", str(path))

    assert "products[0].sku: control characters are not allowed" in capsys.readouterr().err
    assert not Product.objects.exists()


def test_import_legacy_keys_exits_with_a_message_on_a_200_kb_field(tmp_path, capsys):
    ProductFactory(sku="OLD-FW", delivery_method="heritage_key")
    path = tmp_path / "keys.csv"
    path.write_text("sku,license_key\nOLD-FW,KEY-1\nOLD-FW," + "K" * 200_000 + "\n")

    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_legacy_keys", str(path))

    assert f"{path}: line 3: a field is longer than 131072 characters" in capsys.readouterr().err
    assert not LegacyKey.objects.exists()


@pytest.mark.parametrize("command", ["import_legacy_keys", "import_orders"])
def test_a_file_that_is_not_utf8_is_a_message_not_a_traceback(tmp_path, command):
    path = tmp_path / "file.csv"
    path.write_bytes(b"sku,license_key\nOLD-FW,KEY-\xff\n")

    with pytest.raises(CommandError, match=r"file.csv: not UTF-8 text \(byte 27\)"):
        call_command(command, str(path))


def test_an_error_quoting_the_file_does_not_reach_the_terminal_raw(tmp_path, capsys):
    path = tmp_path / "orders.json"
    path.write_text(json.dumps({"orders": [{"order_number": "1", "language": "\x1b[2J"}]}))

    with pytest.raises(CommandError):
        call_command("import_orders", str(path))

    err = capsys.readouterr().err
    assert "\x1b" not in err and '"\\x1b[2J" is not a valid choice.' in err


def test_a_member_written_twice_is_refused_and_nothing_imported(tmp_path, capsys):
    # Which "products" counts? Readers disagree (the first, or the last): it is refused.
    path = tmp_path / "catalog.json"
    product = {"sku": "KS-ONE", "name": "One", "delivery_method": "jal"}
    path.write_text('{"products": [], "products": [' + json.dumps(product) + "]}")

    with pytest.raises(CommandError):
        call_command("import_catalog", str(path))

    assert "the member 'products' is written twice" in capsys.readouterr().err
    assert not Product.objects.exists()
