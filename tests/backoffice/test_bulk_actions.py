"""Bulk actions in the admin: a CSV of SSRNs, serial numbers or order lines (or a changelist's
selection), a preview that writes nothing, a confirmation that does exactly what it showed,
each row's outcome; per role, only the actions the role may run."""

import datetime

import pytest
from django.contrib.admin import helpers
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from apps.backoffice.roles import CUSTOMER_CARE, OPERATIONS
from apps.core import bulk
from apps.core.actors import Job
from apps.core.codes import new_ssrn
from apps.core.models import AuditEvent
from apps.entitlements import transfers
from apps.entitlements.lifecycle import entitlement_reinstate, entitlement_suspend
from apps.entitlements.models import Activation, Entitlement, EntitlementChange, RehostRequest
from apps.entitlements.rehosts import rehost_request_create, rehost_request_deny
from apps.orders.models import LineStatus, OrderLine, Shipment
from apps.outbox.models import Delivery
from tests.factories.accounts import UserFactory
from tests.factories.entitlements import ActivationFactory
from tests.factories.notifications import DeliveryFactory
from tests.fulfillment.helpers import order_with_lines, today
from tests.portal.helpers import entitlement_of, new_account, portal_contact
from tests.webhooks.conftest import endpoint_for

pytestmark = pytest.mark.django_db
URL = reverse("admin:bulk")
CONFIRM = reverse("admin:bulk_confirm")
CARE = Job("test")


def staff(role):
    user = UserFactory(is_staff=True, name=f"{role} member")
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client, user


@pytest.fixture
def care():
    return staff(CUSTOMER_CARE)


@pytest.fixture
def ops():
    return staff(OPERATIONS)


def owned(**fields):
    """An entitlement whose end customer has a contact (who would be emailed)."""
    account = new_account()
    entitlement = entitlement_of(account, **fields)
    portal_contact(account)
    return entitlement


def upload(client, action, text, name="rows.csv", **fields):
    data = text if isinstance(text, bytes) else text.encode()
    return client.post(
        URL,
        {"action": action, "stage": "preview", "file": SimpleUploadedFile(name, data), **fields},
    )


def rows_of(response, key="outcomes"):
    return [(o.line, o.identifier, o.status, o.message) for o in response.context[key]]


def nothing_written():
    return (
        not AuditEvent.objects.exists()
        and not EntitlementChange.objects.exists()
        and not Delivery.objects.exists()
    )


# The file


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "rows.csv: line 1: the file is empty: the first line must be the header “ssrn”"),
        (b"serial_number\nABC\n", "rows.csv: line 1: the first line must be the header “ssrn”"),
        (b"ssrn\n{ssrn}\n\xff\xfe\n", "rows.csv: line 3: not UTF-8 text"),
        (b"ssrn\n{ssrn}\nAB\x00CD\n", "rows.csv: line 3: a NUL byte"),
        (b"ssrn\n{ssrn}\nnot-an-ssrn\n", "rows.csv: line 3: “not-an-ssrn” is not an SSRN"),
        (b"ssrn\n{ssrn}\n\n{lower}\n", "rows.csv: line 4: {ssrn} is on line 2 already"),
        (b"ssrn\n{ssrn},extra\n", "rows.csv: line 2: one column only"),
        (b"ssrn\n\n", "rows.csv: line 2: no “ssrn” value in the file"),
    ],
)
def test_a_malformed_file_names_its_line_and_writes_nothing(care, data, problem):
    client, _user = care
    entitlement = owned()
    spaced = " ".join(entitlement.ssrn.lower().replace("-", ""))
    data = data.replace(b"{ssrn}", entitlement.ssrn.encode()).replace(b"{lower}", spaced.encode())

    response = upload(client, "suspend", data, reason="Unpaid")

    assert response.status_code == 200
    assert response.context["errors"][0].startswith(problem.replace("{ssrn}", entitlement.ssrn))
    assert "outcomes" not in response.context
    assert nothing_written()


def test_too_many_rows_or_bytes_are_refused_naming_the_line(care):
    client, _user = care
    rows = "".join(f"SN{n:08d}\n" for n in range(bulk.MAX_ROWS + 1))

    response = upload(client, "revoke_activation", "serial_number\n" + rows, reason="x")
    assert response.context["errors"] == [
        "rows.csv: line 1002: more than 1,000 rows: split the file"
    ]

    huge = "serial_number\n" + "A" * 60 + "\n"
    response = upload(client, "revoke_activation", huge * 5_000, reason="x")
    assert response.context["errors"] == [
        "rows.csv: line 6992: the file is larger than 256 KB: split it"
    ]
    assert nothing_written()


def test_an_activation_code_in_the_file_is_refused_and_never_shown(care):
    client, _user = care
    entitlement = owned()
    code = Entitlement.objects.get(pk=entitlement.pk).activation_code

    response = upload(client, "suspend", f"ssrn\n{code}\n", reason="x")

    assert response.context["errors"] == [
        "rows.csv: line 2: an activation code: the file holds “ssrn” values only"
    ]
    assert code.encode() not in response.content


# The preview


def test_the_preview_lists_each_row_and_writes_nothing(care, django_capture_on_commit_callbacks):
    client, _user = care
    endpoint_for("https://93.184.215.14/erp", events=["entitlement.suspended"])
    AuditEvent.objects.all().delete()
    active, suspended = owned(), owned()
    entitlement_suspend(entitlement_id=suspended.pk, reason="Earlier", actor=CARE)
    AuditEvent.objects.all().delete()
    EntitlementChange.objects.all().delete()
    Delivery.objects.all().delete()
    typed = " " + active.ssrn.lower().replace("-", " ") + " "  # as search reads it
    unknown = new_ssrn()

    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(
            client,
            "suspend",
            f"SSRN\n{typed}\n{suspended.ssrn}\n{unknown}\n",
            reason="Unpaid invoice 4711",
        )

    assert rows_of(response) == [
        (2, active.ssrn, "will", ""),
        (
            3,
            suspended.ssrn,
            "refused",
            f"The entitlement {suspended.ssrn} is suspended: it cannot be suspended.",
        ),
        (4, unknown, "not_found", "Not found."),
    ]
    assert response.context["will"] == 1
    assert not callbacks
    assert nothing_written()
    active.refresh_from_db()
    assert active.suspended_at is None


def test_confirm_does_exactly_the_previewed_rows_each_audited_with_its_actor(care):
    client, user = care
    first, second, refused = owned(), owned(), owned()
    entitlement_suspend(entitlement_id=refused.pk, reason="Earlier", actor=CARE)
    preview = upload(
        client,
        "suspend",
        f"ssrn\n{first.ssrn}\n{second.ssrn}\n{refused.ssrn}\n",
        reason="Unpaid invoice 4711",
    )
    # Between preview and confirmation: one row is suspended by someone else, and the
    # refused one becomes suspendable. Neither is done by the confirmation.
    entitlement_suspend(entitlement_id=second.pk, reason="Meanwhile", actor=CARE)
    entitlement_reinstate(entitlement_id=refused.pk, reason="Paid", actor=CARE)
    AuditEvent.objects.all().delete()

    result = client.post(CONFIRM, {"token": preview.context["token"]})

    assert rows_of(result, "results") == [
        (2, first.ssrn, "done", ""),
        (
            3,
            second.ssrn,
            "refused",
            f"The entitlement {second.ssrn} is suspended: it cannot be suspended.",
        ),
    ]
    assert result.context["done"] == 1
    audit = AuditEvent.objects.get()
    assert audit.action == "entitlement.suspended" and audit.target_id == str(first.pk)
    assert audit.actor == user and audit.message == "Unpaid invoice 4711"
    refused.refresh_from_db()
    assert refused.suspended_at is None

    again = client.post(CONFIRM, {"token": preview.context["token"]})
    assert again.status_code == 409
    assert AuditEvent.objects.count() == 1


def test_a_forged_or_foreign_confirmation_does_nothing(care):
    client, _user = care
    entitlement = owned()
    preview = upload(client, "suspend", f"ssrn\n{entitlement.ssrn}\n", reason="x")
    token = preview.context["token"]

    assert client.post(CONFIRM, {"token": token[:-2] + "xx"}).status_code == 400
    other, _other_user = staff(CUSTOMER_CARE)
    assert other.post(CONFIRM, {"token": token}).status_code == 400
    assert not AuditEvent.objects.filter(action="entitlement.suspended").exists()


# Each action


def test_revoke_activations_by_serial_number_in_any_case(care):
    client, user = care
    entitlement = owned()
    live = ActivationFactory(entitlement=entitlement, serial_number="GW-100")
    other = ActivationFactory(entitlement=owned(), serial_number="GW-100")
    gone = ActivationFactory(entitlement=entitlement, serial_number="GW-200")
    Activation.objects.filter(pk=gone.pk).update(revoked_at=datetime.datetime.now(datetime.UTC))

    preview = upload(client, "revoke_activation", "serial_number\n gw-100\ngw-200\n", reason="RMA")

    assert [(r[1], r[2]) for r in rows_of(preview)] == sorted(
        [(str(live), "will"), (str(other), "will")]
    ) + [(str(gone), "refused")]
    client.post(CONFIRM, {"token": preview.context["token"]})
    assert not Activation.objects.filter(serial_number="GW-100", revoked_at=None).exists()
    assert AuditEvent.objects.filter(action="activation.revoked", actor=user).count() == 2


def test_operations_hold_and_ship_now_order_lines(ops, django_capture_on_commit_callbacks):
    client, user = ops
    order = order_with_lines(dates=[today(), today(), today()])
    first, second, third = order.lines.order_by("line_number")
    OrderLine.objects.filter(pk=third.pk).update(status=LineStatus.ON_HOLD)
    number = order.order_number.lower()

    with django_capture_on_commit_callbacks() as callbacks:
        preview = upload(client, "ship_now", f"order_line\n{number} / 1\n{number}/3\n{number}/9\n")
    assert rows_of(preview) == [
        (2, str(first), "will", ""),
        (3, str(third), "refused", f"Order line {third} is on hold: only an open line ships now."),
        (4, f"{number}/9", "not_found", "Not found."),
    ]
    assert not callbacks and not Shipment.objects.exists() and not Delivery.objects.exists()

    client.post(CONFIRM, {"token": preview.context["token"]})
    first.refresh_from_db()
    assert first.status == LineStatus.FULFILLED
    assert Delivery.objects.filter(about=order.order_number).exists()

    held = upload(client, "hold", f"order_line\n{order.order_number}/2\n", reason="Credit check")
    client.post(CONFIRM, {"token": held.context["token"]})
    second.refresh_from_db()
    assert (second.status, second.status_reason) == (LineStatus.ON_HOLD, "Credit check")
    assert AuditEvent.objects.get(action="line.hold").actor == user


def test_resend_sends_each_shipment_once(ops):
    client, user = ops
    first = owned()
    second = entitlement_of(new_account())
    second.order_line.shipment = first.order_line.shipment
    second.order_line.save()
    for address in ["a@northwind.example", "b@northwind.example"]:
        DeliveryFactory(shipment=first.order_line.shipment, recipient=address)

    preview = upload(client, "resend", f"ssrn\n{first.ssrn}\n{second.ssrn}\n", reason="Lost")
    assert rows_of(preview) == [
        (2, first.ssrn, "will", "To a@northwind.example, b@northwind.example."),
        (3, second.ssrn, "refused", f"Done already with {first.ssrn}."),
    ]
    assert Delivery.objects.count() == 2

    client.post(CONFIRM, {"token": preview.context["token"]})
    assert Delivery.objects.filter(resend_of__isnull=False, requested_by=user).count() == 2


# Permissions per role


def test_each_role_is_offered_only_its_actions_and_a_forged_choice_is_refused(care, ops):
    care_client, _care_user = care
    ops_client, _ops_user = ops
    entitlement = owned()

    def offered(client):
        return {a.name for _kind, actions in client.get(URL).context["choices"] for a in actions}

    assert offered(care_client) == {
        "suspend",
        "reinstate",
        "revoke",
        "reissue",
        "resend",
        "transfer",
        "split",
        "revoke_activation",
        "approve_rehost",
        "deny_rehost",
    }
    assert offered(ops_client) == {"hold", "release", "cancel", "ship_now", "reissue", "resend"}
    forged = upload(ops_client, "suspend", f"ssrn\n{entitlement.ssrn}\n", reason="x")
    assert forged.status_code == 403
    other = new_account()
    for action, fields in [
        ("transfer", {"account_ids": other.account_id, "reason": "x"}),
        ("split", {"quantity": 1, "account_ids": other.account_id, "reason": "x"}),
    ]:
        forged = upload(ops_client, action, f"ssrn\n{entitlement.ssrn}\n", **fields)
        assert forged.status_code == 403
    forged = upload(ops_client, "approve_rehost", "serial_number\nSN-1\n", note="")
    assert forged.status_code == 403
    line = order_with_lines(dates=[today()]).lines.get()
    forged = upload(care_client, "hold", f"order_line\n{line}\n", reason="x")
    assert forged.status_code == 403
    nobody = Client()
    nobody.force_login(UserFactory(is_staff=True))
    assert nobody.get(URL).status_code == 403
    assert not AuditEvent.objects.filter(
        action__in=["entitlement.suspended", "entitlement.transferred", "line.hold"]
    )
    assert entitlement.entitlement_accounts.get().account != other


def test_a_confirmation_is_refused_once_the_permission_is_gone(care):
    client, user = care
    entitlement = owned()
    preview = upload(client, "revoke", f"ssrn\n{entitlement.ssrn}\n", reason="Fraud")
    user.groups.clear()

    assert client.post(CONFIRM, {"token": preview.context["token"]}).status_code == 403
    entitlement.refresh_from_db()
    assert entitlement.revoked_at is None


# From a changelist's selection


def test_a_selection_is_previewed_and_confirmed(care):
    client, user = care
    chosen, left = owned(), owned()
    changelist = reverse("admin:entitlements_entitlement_changelist")

    page = client.post(changelist, {"action": "bulk", helpers.ACTION_CHECKBOX_NAME: [chosen.pk]})
    assert page.context["count"] == 1
    selection = page.context["selection"]
    assert "hold" not in {a.name for _k, actions in page.context["choices"] for a in actions}

    preview = client.post(
        URL, {"selection": selection, "action": "reissue", "stage": "preview", "reason": "Typo"}
    )
    assert rows_of(preview) == [(None, chosen.ssrn, "will", "Certificate version 2.")]
    assert not AuditEvent.objects.exists()

    client.post(CONFIRM, {"token": preview.context["token"]})
    assert AuditEvent.objects.get(action="certificate.reissued").target_id == str(chosen.pk)
    assert chosen.certificates.count() == 2 and left.certificates.count() == 1

    # A selection of entitlements does not take an action on other rows.
    wrong = client.post(
        URL, {"selection": selection, "action": "revoke_activation", "stage": "preview"}
    )
    assert wrong.status_code == 403


def test_every_action_names_a_registered_kind_and_a_real_permission():
    from django.contrib.auth.models import Permission

    for action in bulk.bulk_actions_all():
        bulk.row_kind(action.kind)
        app_label, codename = action.permission.split(".")
        assert Permission.objects.filter(
            content_type__app_label=app_label, codename=codename
        ).exists(), action.permission


# Transfer and split


@pytest.fixture
def minted(monkeypatch):
    """Every activation code a transfer or a split mints, to look for on the pages."""
    codes = []

    def new_activation_code():
        codes.append(original())
        return codes[-1]

    original = transfers.codes.new_activation_code
    monkeypatch.setattr(transfers.codes, "new_activation_code", new_activation_code)
    return codes


def owners(entitlement):
    return sorted(entitlement.entitlement_accounts.values_list("account__account_id", "role"))


def test_a_transfer_preview_writes_nothing_and_shows_no_code(
    care, minted, django_capture_on_commit_callbacks
):
    client, user = care
    first, second, suspended = owned(), owned(), owned()
    entitlement_suspend(entitlement_id=suspended.pk, reason="Credit hold", actor=CARE)
    AuditEvent.objects.all().delete()
    EntitlementChange.objects.all().delete()
    Delivery.objects.all().delete()
    buyer, partner = new_account(), new_account()
    portal_contact(buyer)
    old_codes = [Entitlement.objects.get(pk=e.pk).activation_code for e in (first, second)]
    before = [owners(e) for e in (first, second)]

    with django_capture_on_commit_callbacks() as callbacks:
        preview = upload(
            client,
            "transfer",
            f"ssrn\n{first.ssrn}\n{second.ssrn}\n{suspended.ssrn}\n",
            account_ids=f" {buyer.account_id},{partner.account_id} ",
            reason="Acquired by the buyer",
        )

    told = (
        f"Its accounts: {buyer.account_id} (End customer), {partner.account_id} (Partner). "
        "Their contacts get a new activation code; the old one stops working."
    )
    assert rows_of(preview) == [
        (2, first.ssrn, "will", told),
        (3, second.ssrn, "will", told),
        (
            4,
            suspended.ssrn,
            "refused",
            f"The entitlement {suspended.ssrn} is suspended: it cannot be transferred.",
        ),
    ]
    assert len(minted) == 2  # the dry run did transfer, and rolled back
    body = preview.content.decode()
    assert not [code for code in [*minted, *old_codes] if code in body]
    assert not callbacks and nothing_written()
    assert [owners(e) for e in (first, second)] == before
    assert [Entitlement.objects.get(pk=e.pk).activation_code for e in (first, second)] == old_codes

    result = client.post(CONFIRM, {"token": preview.context["token"]})

    assert [(r[1], r[2]) for r in rows_of(result, "results")] == [
        (first.ssrn, "done"),
        (second.ssrn, "done"),
    ]
    body = result.content.decode()
    assert not [code for code in [*minted, *old_codes] if code in body]
    after = [(buyer.account_id, "end_customer"), (partner.account_id, "partner")]
    assert [owners(e) for e in (first, second)] == [after, after]
    for entitlement, old in zip((first, second), old_codes, strict=True):
        assert Entitlement.objects.get(pk=entitlement.pk).activation_code not in (old, *old_codes)
    audits = AuditEvent.objects.filter(action="entitlement.transferred")
    assert {(a.target_id, a.actor, a.message) for a in audits} == {
        (str(first.pk), user, "Acquired by the buyer"),
        (str(second.pk), user, "Acquired by the buyer"),
    }
    assert owners(suspended) != after


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "This field is required."),
        ("0100 abc", "account_ids[1]: an Account ID is 4 to 20 digits, as text."),
        ("99999999990", "account_ids: no account has the Account ID 99999999990."),
        ("{buyer} {buyer}", "account_ids[1]: {buyer} is given twice."),
    ],
)
def test_a_transfer_with_bad_account_ids_is_not_previewed(care, minted, typed, says):
    client, _user = care
    entitlement = owned()
    buyer = new_account()

    response = upload(
        client,
        "transfer",
        f"ssrn\n{entitlement.ssrn}\n",
        account_ids=typed.replace("{buyer}", buyer.account_id),
        reason="Acquired",
    )

    assert response.context["form"].errors["account_ids"] == [
        says.replace("{buyer}", buyer.account_id)
    ]
    assert "outcomes" not in response.context and not minted
    assert not AuditEvent.objects.filter(action="entitlement.transferred").exists()


def test_a_transfer_to_the_accounts_it_has_is_refused_in_the_preview(care):
    client, _user = care
    entitlement = owned()
    account = entitlement.entitlement_accounts.get().account

    preview = upload(
        client,
        "transfer",
        f"ssrn\n{entitlement.ssrn}\n",
        account_ids=account.account_id,
        reason="Again",
    )

    assert rows_of(preview) == [
        (
            2,
            entitlement.ssrn,
            "refused",
            f"account_ids: {entitlement.ssrn} already belongs to these accounts in these roles.",
        )
    ]
    assert preview.context["will"] == 0


def test_a_split_is_previewed_then_done_on_each_selected_entitlement(care, minted):
    client, user = care
    big, used, small = owned(quantity=5), owned(quantity=3), owned(quantity=1)
    ActivationFactory(entitlement=used, serial_number="GW-1")
    ActivationFactory(entitlement=used, serial_number="GW-2")
    buyer = new_account()
    changelist = reverse("admin:entitlements_entitlement_changelist")
    page = client.post(
        changelist,
        {"action": "bulk", helpers.ACTION_CHECKBOX_NAME: [big.pk, used.pk, small.pk]},
    )
    fields = {"quantity": 2, "account_ids": buyer.account_id, "reason": "Second site"}

    preview = client.post(
        URL,
        {"selection": page.context["selection"], "action": "split", "stage": "preview", **fields},
    )

    assert rows_of(preview) == [
        (
            None,
            big.ssrn,
            "will",
            f"2 seat(s) to a new entitlement of {buyer.account_id} (End customer); 3 stay on "
            f"{big.ssrn}.",
        ),
        (
            None,
            used.ssrn,
            "refused",
            f"quantity: 1 of the 3 seats of {used.ssrn} are free (2 in use by activated "
            "devices): revoke activations to split off more.",
        ),
        (
            None,
            small.ssrn,
            "refused",
            f"quantity: from 1 to 0 ({small.ssrn} has 1 seats and keeps one).",
        ),
    ]
    body = preview.content.decode()
    assert minted and not [code for code in minted if code in body]
    assert Entitlement.objects.count() == 3 and not AuditEvent.objects.exists()

    result = client.post(CONFIRM, {"token": preview.context["token"]})

    assert [(r[1], r[2]) for r in rows_of(result, "results")] == [(big.ssrn, "done")]
    big.refresh_from_db()
    split = Entitlement.objects.get(split_from=big)
    assert (big.quantity, split.quantity) == (3, 2)
    assert owners(split) == [(buyer.account_id, "end_customer")]
    assert AuditEvent.objects.get(action="entitlement.split").actor == user
    assert not [code for code in minted if code in result.content.decode()]


# Rehost requests


def asked(entitlement, serial, new_serial):
    """A portal user of the entitlement's end customer asks to move `serial` to `new_serial`."""
    account = entitlement.entitlement_accounts.get().account
    user = portal_contact(account).user
    activation = ActivationFactory(entitlement=entitlement, serial_number=serial)
    return rehost_request_create(
        activation_id=activation.pk,
        new_serial_number=new_serial,
        reason=f"{serial} died",
        user=user,
        language="en",
    )


def test_rehost_requests_are_approved_from_the_selection(care):
    client, user = care
    entitlement = owned(quantity=3)
    first = asked(entitlement, "GW-1", "GW-1B")
    second = asked(entitlement, "GW-2", "GW-2B")
    meanwhile = asked(owned(), "GW-3", "GW-3B")
    AuditEvent.objects.all().delete()
    Delivery.objects.all().delete()
    changelist = reverse("admin:entitlements_rehostrequest_changelist")
    page = client.post(
        changelist,
        {"action": "bulk", helpers.ACTION_CHECKBOX_NAME: [first.pk, second.pk, meanwhile.pk]},
    )
    assert {a.name for _k, actions in page.context["choices"] for a in actions} == {
        "approve_rehost",
        "deny_rehost",
    }

    preview = client.post(
        URL,
        {
            "selection": page.context["selection"],
            "action": "approve_rehost",
            "stage": "preview",
            "note": "",
        },
    )

    said = (
        "{old} moves to {new} on {ssrn}: its key is revoked, the replacement gets a new key, "
        "the seats in use are unchanged."
    )
    assert rows_of(preview) == [
        (
            None,
            f"{r.activation.entitlement.ssrn} @ {old} -> {new}",
            "will",
            said.format(old=old, new=new, ssrn=r.activation.entitlement.ssrn),
        )
        for r, old, new in [
            (first, "GW-1", "GW-1B"),
            (second, "GW-2", "GW-2B"),
            (meanwhile, "GW-3", "GW-3B"),
        ]
    ]
    assert nothing_written()
    assert not Activation.objects.filter(serial_number__endswith="B").exists()
    assert set(RehostRequest.objects.values_list("status", flat=True)) == {"pending"}

    # Another agent denies one between the preview and the confirmation.
    rehost_request_deny(request_id=meanwhile.pk, actor=CARE, note="Not under warranty")
    result = client.post(CONFIRM, {"token": preview.context["token"]})

    assert [(r[2], r[3]) for r in rows_of(result, "results")] == [
        ("done", said.format(old="GW-1", new="GW-1B", ssrn=entitlement.ssrn)),
        ("done", said.format(old="GW-2", new="GW-2B", ssrn=entitlement.ssrn)),
        ("refused", "The request to move GW-3 to GW-3B is denied already."),
    ]
    assert sorted(
        entitlement.activations.filter(revoked_at=None).values_list("serial_number", flat=True)
    ) == ["GW-1B", "GW-2B"]
    for request in (first, second):
        request.refresh_from_db()
        assert (request.status, request.decided_by) == ("approved", user)
    assert AuditEvent.objects.filter(action="activation.rehosted", actor=user).count() == 2


def test_rehost_requests_are_denied_from_a_file_of_serial_numbers_with_a_note(care):
    client, user = care
    entitlement = owned(quantity=2)
    pending = asked(entitlement, "GW-1", "GW-1B")
    decided = asked(entitlement, "GW-2", "GW-2B")
    rehost_request_deny(request_id=decided.pk, actor=CARE, note="Earlier")
    AuditEvent.objects.all().delete()
    Delivery.objects.all().delete()
    rows = "serial_number\n gw-1 \nGW-2\nGW-9\n"

    missing = upload(client, "deny_rehost", rows, note="  ")
    assert missing.context["form"].errors["note"] == ["This field is required."]
    assert "outcomes" not in missing.context

    preview = upload(client, "deny_rehost", rows, note="Not under warranty")
    assert rows_of(preview) == [
        (
            2,
            f"{entitlement.ssrn} @ GW-1 -> GW-1B",
            "will",
            f"{pending.requested_by.email} is told by email.",
        ),
        (
            3,
            f"{entitlement.ssrn} @ GW-2 -> GW-2B",
            "refused",
            "The request to move GW-2 to GW-2B is denied already.",
        ),
        (4, "GW-9", "not_found", "Not found."),
    ]
    assert nothing_written()

    client.post(CONFIRM, {"token": preview.context["token"]})
    pending.refresh_from_db()
    assert (pending.status, pending.decision_note, pending.decided_by) == (
        "denied",
        "Not under warranty",
        user,
    )
    assert Delivery.objects.get().recipient == pending.requested_by.email
    assert not entitlement.activations.filter(serial_number="GW-1B").exists()


def test_operations_cannot_open_rehost_requests_nor_their_bulk_actions(ops):
    client, _user = ops
    request = asked(owned(), "GW-1", "GW-1B")
    changelist = reverse("admin:entitlements_rehostrequest_changelist")

    assert client.get(changelist).status_code == 403
    forged = client.post(changelist, {"action": "bulk", helpers.ACTION_CHECKBOX_NAME: [request.pk]})
    assert forged.status_code == 403
    assert upload(client, "deny_rehost", "serial_number\nGW-1\n", note="x").status_code == 403
    request.refresh_from_db()
    assert request.status == "pending"
