"""Legacy key pools: import, hand-out at shipping, a short pool, each method's email."""

import datetime
import threading

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection

from apps.core.actors import Job
from apps.core.models import AuditEvent
from apps.fulfillment import services
from apps.fulfillment.services import order_lines_fulfil_due
from apps.lms.models import LegacyKey, LegacyKeyState
from apps.lms.services import legacy_keys_import
from apps.orders.models import LineStatus
from tests.factories.catalog import ProductFactory
from tests.factories.orders import OrderLineFactory
from tests.fulfillment.helpers import order_with_lines

NOW = datetime.datetime(2026, 12, 1, 9, tzinfo=datetime.UTC)
TODAY = NOW.date()


def keys_csv(sku, count, start=1):
    return "sku,license_key,batch\n" + "".join(
        f"{sku},KEY-{sku}-{n:04d},B7\n" for n in range(start, start + count)
    )


@pytest.fixture
def key_product(db):
    return ProductFactory(sku="OLD-FW", name="Classic Firewall Key", delivery_method="heritage_key")


def test_a_key_file_fills_the_pool_keeps_extra_columns_and_is_idempotent(
    key_product, tmp_path, capsys
):
    path = tmp_path / "keys.csv"
    path.write_text(keys_csv("OLD-FW", 3))

    call_command("import_legacy_keys", str(path))
    call_command("import_legacy_keys", str(path))

    assert (
        LegacyKey.objects.filter(product=key_product, state=LegacyKeyState.AVAILABLE).count() == 3
    )
    assert LegacyKey.objects.first().extra == {"batch": "B7"}
    out = capsys.readouterr().out
    assert (
        "pool OLD-FW: 3 key(s) added" in out and "3 key(s) already in their pools: unchanged" in out
    )
    assert "KEY-OLD-FW" not in out  # keys are secrets


def test_a_bad_key_file_names_every_line_and_writes_nothing(key_product, tmp_path, capsys):
    ProductFactory(sku="PLAIN", delivery_method="jal")
    other = ProductFactory(sku="OTHER-FW", delivery_method="heritage_key")
    LegacyKey.objects.create(product=other, license_key="KEY-TAKEN")
    path = tmp_path / "keys.csv"
    path.write_text(
        "sku,license_key\nOLD-FW,KEY-1\nNOPE,KEY-2\nPLAIN,KEY-3\nOLD-FW,\nOLD-FW,KEY-1\nOLD-FW,KEY-TAKEN\n"
    )

    with pytest.raises(CommandError, match="5 error"):
        call_command("import_legacy_keys", str(path))

    errors = capsys.readouterr().err
    for expected in [
        'line 3: unknown SKU "NOPE"',
        'line 4: "PLAIN" is not delivered with legacy keys',
        "line 5: the license key is empty",
        "line 6: the same key as line 2",
        'line 7: the key is already in the pool of "OTHER-FW"',
    ]:
        assert expected in errors
    assert not LegacyKey.objects.filter(product=key_product).exists()


@pytest.mark.django_db(transaction=True)
@time_machine.travel(NOW, tick=False)
def test_keys_are_handed_out_at_shipping_and_attached_to_the_email(smtp, key_product):
    legacy_keys_import(text=keys_csv("OLD-FW", 3), actor=Job("import_legacy_keys"))
    order = order_with_lines(dates=[TODAY], product=key_product)  # quantity 2

    order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    entitlement = order.lines.get().entitlement
    assigned = [key.license_key for key in entitlement.legacy_keys.order_by("id")]
    assert assigned == ["KEY-OLD-FW-0001", "KEY-OLD-FW-0002"]
    message = smtp.messages[0]
    attachment = next(a for a in message.iter_attachments() if a.get_content_type() == "text/plain")
    assert attachment.get_filename() == f"license-keys-{entitlement.ssrn}.txt"
    assert attachment.get_content().splitlines() == assigned
    text = message.get_body(("plain",)).get_content()
    assert "Your 2 license keys are attached" in text
    assert entitlement.activation_code not in text  # nothing to activate


@pytest.mark.django_db(transaction=True)
@time_machine.travel(NOW, tick=False)
def test_a_short_pool_blocks_the_line_until_keys_arrive_then_it_ships_by_itself(smtp, key_product):
    legacy_keys_import(text=keys_csv("OLD-FW", 1), actor=Job("import_legacy_keys"))
    order = order_with_lines(dates=[TODAY], product=key_product)  # needs 2

    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))  # still short: no new event

    line = order.lines.get()
    assert (line.status, line.waiting_for_keys) == (LineStatus.BLOCKED, 1)
    assert line.status_reason == 'waiting for 1 more legacy key(s) of "OLD-FW"'
    assert AuditEvent.objects.filter(action="line.blocked", target_id=str(line.pk)).count() == 1
    assert LegacyKey.objects.filter(state=LegacyKeyState.AVAILABLE).count() == 1  # not taken

    legacy_keys_import(text=keys_csv("OLD-FW", 1, start=2), actor=Job("import_legacy_keys"))
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    line.refresh_from_db()
    assert (line.status, line.waiting_for_keys) == (LineStatus.FULFILLED, 0)
    assert line.entitlement.legacy_keys.count() == 2 and len(smtp.messages) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_never_hand_out_one_key_twice(monkeypatch, key_product):
    legacy_keys_import(text=keys_csv("OLD-FW", 30), actor=Job("import_legacy_keys"))
    orders = [
        order_with_lines(dates=[datetime.date.today()], product=key_product) for _ in range(20)
    ]  # 40 wanted
    monkeypatch.setattr(services, "_after_commit", lambda report: None)
    start = threading.Barrier(2)

    def sweep():
        start.wait()
        try:
            services.order_lines_fulfil_due(batch_size=2, actor=Job("fulfil_due_task"))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assigned = LegacyKey.objects.filter(state=LegacyKeyState.ASSIGNED)
    assert assigned.count() == 30 and assigned.values("license_key_digest").distinct().count() == 30
    shipped = [o for o in orders if o.lines.get().status == LineStatus.FULFILLED]
    assert len(shipped) == 15  # 30 keys, two per line
    assert all(o.lines.get().entitlement.legacy_keys.count() == 2 for o in shipped)


@pytest.mark.django_db(transaction=True)
@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    ("method", "says", "shows_code"),
    [
        ("jal", "Activate it on your devices in the Keyship portal.", True),
        ("heritage_document", "No license key needs to be installed", False),
        ("heritage_no_activation", "No activation is needed", False),
        ("legacy_lms", "System: enter this authorization code and each device's serial", True),
        ("paper", "Your paper license ships with your hardware.", False),
    ],
)
def test_each_delivery_method_says_what_to_do(smtp, method, says, shows_code):
    order = order_with_lines(dates=[TODAY], product=ProductFactory(delivery_method=method))

    order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    entitlement = order.lines.get().entitlement
    for body in (smtp.messages[0].get_body(("plain",)), smtp.messages[0].get_body(("html",))):
        content = body.get_content()
        assert says in content
        assert (entitlement.activation_code in content) is shows_code
        assert ("http://127.0.0.1:8000/legacy-keys/" in content) is (method == "legacy_lms")


def test_the_admin_shows_each_pool_and_warns_when_keys_run_short(
    admin_client, key_product, settings
):
    from django.urls import reverse

    settings.LEGACY_KEY_POOL_WARNING = 2
    healthy = ProductFactory(sku="FULL-FW", delivery_method="heritage_key")
    legacy_keys_import(
        text=keys_csv("OLD-FW", 1) + keys_csv("FULL-FW", 5).split("\n", 1)[1],
        actor=Job("import_legacy_keys"),
    )
    order_with_lines(dates=[TODAY], product=key_product)  # needs 2 of OLD-FW

    page = admin_client.get(reverse("admin:lms_legacykey_changelist")).content.decode()

    rows = {
        sku: page.split(f"<td>{sku}</td>", 1)[1].split("</tr>", 1)[0]
        for sku in ("OLD-FW", healthy.sku)
    }
    assert "<td>1</td><td>0</td><td>2</td>" in rows["OLD-FW"] and "Running short" in rows["OLD-FW"]
    assert (
        "<td>5</td><td>0</td><td>0</td>" in rows["FULL-FW"]
        and "Running short" not in rows["FULL-FW"]
    )


@pytest.mark.django_db(transaction=True)
@time_machine.travel(NOW, tick=False)
def test_an_order_mixing_methods_sends_one_email_per_address_describing_each_license(
    smtp, key_product
):
    # Given one order with an activation line, a key line and a paper line, to two addresses
    legacy_keys_import(text=keys_csv("OLD-FW", 2), actor=Job("import_legacy_keys"))
    order = order_with_lines(
        dates=[TODAY], product=key_product, emails=("a@northwind.example", "b@northwind.example")
    )
    for number, method in enumerate(("jal", "paper"), start=2):
        OrderLineFactory(
            order=order,
            line_number=number,
            product=ProductFactory(delivery_method=method),
            requested_ship_date=TODAY,
        )

    order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    # Then each address gets one email that describes all three as their methods require
    assert sorted(m["To"] for m in smtp.messages) == ["a@northwind.example", "b@northwind.example"]
    for message in smtp.messages:
        text = message.get_body(("plain",)).get_content()
        assert "Your 2 license keys are attached" in text
        assert "Activate it on your devices in the Keyship portal." in text
        assert "Your paper license ships with your hardware." in text
        names = sorted(a.get_filename() for a in message.iter_attachments())
        assert len([n for n in names if n.endswith(".pdf")]) == 3
        assert len([n for n in names if n.startswith("license-keys-")]) == 1
