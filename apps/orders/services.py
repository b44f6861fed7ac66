from django.db import IntegrityError, transaction

from apps.accounts.models import Account
from apps.catalog.models import Product
from apps.core.contracts import ImportResult, Rejected, validate
from apps.core.services import audit_event_record, field_changes, field_values
from apps.orders.contracts import OrdersFile
from apps.orders.models import (
    AccountRole,
    LineStatus,
    OrderAccount,
    OrderEmail,
    OrderLine,
    SalesOrder,
)
from apps.outbox.events import event_record
from apps.outbox.models import topic


class Conflict(Rejected):
    """The order exists and the new body would change what has already shipped."""


_ACCOUNT_KIND = {AccountRole.PARTNER: "partner", AccountRole.DISTRIBUTOR: "distributor"}
_LINE_FIELDS = ("product_id", "quantity", "requested_ship_date", "renews_ssrn")


def _line_problems(
    data: dict, products: dict[str, Product], path: str, renewal_check, settled: set[int]
) -> list[str]:
    problems = []
    for index, line in enumerate(data["lines"]):
        product = products.get(line["sku"])
        where = f"{path}lines[{index}]"
        if product is None:
            problems.append(f'{where}.sku: unknown SKU "{line["sku"]}"')
        elif not product.is_active:
            problems.append(f'{where}.sku: "{line["sku"]}" is no longer sold')
        elif product.renews_id and not line["renews_ssrn"]:
            problems.append(
                f'{where}.renews_ssrn: "{product.sku}" is a renewal; name the SSRN it renews'
            )
        elif not product.renews_id and line["renews_ssrn"]:
            problems.append(f'{where}.renews_ssrn: "{product.sku}" is not a renewal SKU')
        elif line["renews_ssrn"] and renewal_check and line["line_number"] not in settled:
            # A line that has shipped (or was cancelled) is not renewed again: the same body
            # posted again stays unchanged whatever became of the entitlement since.
            problem = renewal_check(
                ssrn=line["renews_ssrn"], product=product, accounts=data["accounts"]
            )
            if problem:
                problems.append(f"{where}.renews_ssrn: {problem}")
    return problems


def _snapshot(order: SalesOrder) -> dict:
    """What an order body says, in a form that compares equal for the same body."""
    return {
        "language": order.language,
        "accounts": sorted((a.account.account_id, a.role) for a in order.order_accounts.all()),
        "emails": sorted(e.email.lower() for e in order.emails.all()),
    }


def _wanted(data: dict) -> dict:
    return {
        "language": data["language"],
        "accounts": sorted((a["account_id"], a["role"]) for a in data["accounts"]),
        "emails": sorted(e.lower() for e in data["emails"]),
    }


def _account_for(row: dict) -> Account:
    # The accounts file is the master of account data: an order only adds missing ones.
    account, _ = Account.objects.get_or_create(
        account_id=row["account_id"],
        defaults={"name": row["name"], "kind": _ACCOUNT_KIND.get(row["role"], "customer")},
    )
    return account


def _conflicts(order: SalesOrder, data: dict, products: dict[str, Product], path: str) -> list[str]:
    existing = {line.line_number: line for line in order.lines.all()}
    wanted = {line["line_number"]: line for line in data["lines"]}
    shipped = [n for n, line in existing.items() if line.status == LineStatus.FULFILLED]
    problems = []
    if shipped and _snapshot(order) != _wanted(data):
        problems.append(
            f"{path}order_number: order {order.order_number} has fulfilled lines; "
            "its language, accounts and emails can no longer change"
        )
    for number, line in sorted(existing.items()):
        if line.status not in (LineStatus.FULFILLED, LineStatus.CANCELLED):
            continue
        new = wanted.get(number)
        same = new is not None and _line_values(new, products) == {
            f: getattr(line, f) for f in _LINE_FIELDS
        }
        if not same:
            problems.append(
                f"{path}lines: line {number} of order {order.order_number} is {line.status} "
                "and cannot change"
            )
    return problems


def _line_values(line: dict, products: dict[str, Product]) -> dict:
    return {
        "product_id": products[line["sku"]].pk,
        "quantity": line["quantity"],
        "requested_ship_date": line["requested_ship_date"],
        "renews_ssrn": line["renews_ssrn"],
    }


def _line_row(line: dict) -> dict:
    """A line as the audit trail keeps it: what the body said, dates as ISO text."""
    return {
        "line_number": line["line_number"],
        "sku": line["sku"],
        "quantity": line["quantity"],
        "requested_ship_date": line["requested_ship_date"].isoformat(),
        "renews_ssrn": line["renews_ssrn"],
    }


def _audit_value(field: str, value):
    if field == "requested_ship_date":
        return value.isoformat()
    return value


def _recipient_changes(order: SalesOrder, data: dict) -> dict:
    """The accounts (Account ID and role) and addresses that `data` adds to or removes from
    the order: what decides who sees and who receives its codes."""
    before, after = _snapshot(order), _wanted(data)
    changes = {}
    for key, rows in (
        ("accounts", lambda pairs: [{"account_id": a, "role": r} for a, r in pairs]),
        ("emails", list),
    ):
        old, new = set(before[key]), set(after[key])
        if new - old:
            changes[f"{key}_added"] = rows(sorted(new - old))
        if old - new:
            changes[f"{key}_removed"] = rows(sorted(old - new))
    return changes


def _order_apply(order: SalesOrder, data: dict, products: dict[str, Product], actor) -> dict:
    """Write what `data` changes; returns what changed, as order.updated records it (empty
    when nothing did). Never a secret: fields, Account IDs, addresses, line values."""
    changes: dict = {}
    if order.language != data["language"]:
        changes["fields"] = {"language": {"old": order.language, "new": data["language"]}}
    changes.update(_recipient_changes(order, data))
    if _snapshot(order) != _wanted(data):
        order.language = data["language"]
        order.save(update_fields=["language", "updated_at"])
        order.order_accounts.all().delete()
        OrderAccount.objects.bulk_create(
            OrderAccount(order=order, account=_account_for(row), role=row["role"])
            for row in data["accounts"]
        )
        order.emails.all().delete()
        OrderEmail.objects.bulk_create(
            OrderEmail(order=order, email=email) for email in data["emails"]
        )
    existing = {line.line_number: line for line in order.lines.select_related("product")}
    for row in data["lines"]:
        values = _line_values(row, products)
        line = existing.pop(row["line_number"], None)
        if line is None:
            OrderLine.objects.create(order=order, line_number=row["line_number"], **values)
            changes.setdefault("lines_added", []).append(_line_row(row))
        elif values != {f: getattr(line, f) for f in _LINE_FIELDS}:
            changed = {}
            for field, value in values.items():
                if getattr(line, field) != value:
                    name, old, new = field, getattr(line, field), value
                    if field == "product_id":
                        name, old, new = "sku", line.product.sku, row["sku"]
                    changed[name] = {
                        "old": _audit_value(name, old),
                        "new": _audit_value(name, new),
                    }
                setattr(line, field, value)
            line.save(update_fields=[*_LINE_FIELDS, "updated_at"])
            changes.setdefault("lines_changed", []).append(
                {"line_number": line.line_number, "changes": changed}
            )
    for line in existing.values():  # open lines the ERP no longer sends
        if line.status not in (LineStatus.FULFILLED, LineStatus.CANCELLED):
            changes.setdefault("lines_cancelled", []).append(
                {
                    "line_number": line.line_number,
                    "status": {"old": line.status, "new": LineStatus.CANCELLED.value},
                }
            )
            line.status, line.status_reason = (
                LineStatus.CANCELLED,
                "removed from the order by the ERP",
            )
            line.save(update_fields=["status", "status_reason", "updated_at"])
    return changes


def _recipients_problems(order: SalesOrder, data: dict, path: str) -> list[str]:
    """Who may not see activation codes may not choose who receives them either."""
    changes = _recipient_changes(order, data)
    return [
        f"{path}{key}: changing the {label} of order {order.order_number} needs the "
        "permission to see activation codes, as they decide who receives them"
        for key, label in (("accounts", "accounts"), ("emails", "email addresses"))
        if f"{key}_added" in changes or f"{key}_removed" in changes
    ]


def sales_order_upsert(
    *,
    data: dict,
    actor,
    path: str = "",
    renewal_check=None,
    may_change_recipients: bool = True,
) -> tuple[SalesOrder, str]:
    """Create or update one validated order; returns (order, created|updated|unchanged).

    Idempotent on the order number: the same body again writes nothing. A body that
    would change a fulfilled or cancelled line, or an order that has shipped, raises
    Conflict. Call inside a transaction (the import, the API and the admin each hold one).

    `renewal_check(ssrn=, product=, accounts=)` says why a renewal line of an order with these
    accounts (the body's rows) cannot renew its SSRN (None if it can); entitlements live above
    this app, so the caller passes it in. It runs for every line that may still ship, also
    when only the order's accounts changed.

    `may_change_recipients` is False for a person who may not see activation codes: the
    accounts and addresses of an existing order then stay as they are (Rejected otherwise),
    as they decide who receives the codes. The ERP and people who see codes pass True.

    order.created and order.updated record what they wrote: the order's changed fields
    (old and new), the accounts and addresses added and removed, the lines added, changed
    (each field old and new) and cancelled.
    """
    skus = {line["sku"] for line in data["lines"]}
    products = {p.sku: p for p in Product.objects.filter(sku__in=skus)}
    order = SalesOrder.objects.select_for_update().filter(order_number=data["order_number"]).first()
    settled = (
        set(
            order.lines.filter(status__in=[LineStatus.FULFILLED, LineStatus.CANCELLED]).values_list(
                "line_number", flat=True
            )
        )
        if order
        else set()
    )
    problems = _line_problems(data, products, path, renewal_check, settled)
    if order is not None and not may_change_recipients:
        problems += _recipients_problems(order, data, path)
    if problems:
        raise Rejected(problems)
    if order is None:
        order = SalesOrder.objects.create(
            order_number=data["order_number"], language=data["language"]
        )
        changes = _order_apply(order, data, products, actor)
        changes["fields"] = {"language": {"old": None, "new": data["language"]}}
        audit_event_record(actor=actor, action="order.created", target=order, data=changes)
        _order_received_event(data)
        return order, "created"
    conflicts = _conflicts(order, data, products, path)
    if conflicts:
        raise Conflict(conflicts)
    changes = _order_apply(order, data, products, actor)
    if not changes:
        return order, "unchanged"
    audit_event_record(actor=actor, action="order.updated", target=order, data=changes)
    return order, "updated"


def _order_received_event(data: dict) -> None:
    """Tell the webhook endpoints that listen that a new order came in (as its body said)."""
    account_ids = sorted({row["account_id"] for row in data["accounts"]})
    event_record(
        type="order.received",
        data={
            "order_number": data["order_number"],
            "language": data["language"],
            "accounts": [
                {"account_id": row["account_id"], "role": row["role"]} for row in data["accounts"]
            ],
            "account_ids": account_ids,
            "lines": [
                {
                    "line_number": line["line_number"],
                    "sku": line["sku"],
                    "quantity": line["quantity"],
                    "requested_ship_date": line["requested_ship_date"].isoformat(),
                    "renews_ssrn": line["renews_ssrn"] or None,
                }
                for line in data["lines"]
            ],
        },
        account_ids=account_ids,
        topic=topic("order", data["order_number"]),
        about=data["order_number"],
    )


def sales_order_receive(*, data: dict, actor, renewal_check=None) -> tuple[SalesOrder, str]:
    """One order from the ERP's API, in its own transaction: sales_order_upsert, safe when
    the same order arrives twice at the same moment.

    The order row does not exist yet to be locked, so two identical requests may both try
    to create it (or the same new account); the unique keys let one win, and the other is
    retried once against what the winner wrote: an unchanged (or updated) order.
    """
    for attempt in range(2):
        try:
            with transaction.atomic():
                return sales_order_upsert(data=data, actor=actor, renewal_check=renewal_check)
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


@transaction.atomic
def order_line_reschedule(*, line: OrderLine, requested_ship_date, actor) -> OrderLine:
    """A new requested ship date for a line that has not shipped; Conflict once it has."""
    SalesOrder.objects.select_for_update().filter(pk=line.order_id).first()
    line = OrderLine.objects.select_for_update().select_related("order").get(pk=line.pk)
    if line.status in (LineStatus.FULFILLED, LineStatus.CANCELLED):
        raise Conflict(
            [
                f"lines: line {line.line_number} of order {line.order.order_number} is "
                f"{line.status} and cannot change"
            ]
        )
    if line.requested_ship_date != requested_ship_date:
        before = line.requested_ship_date
        line.requested_ship_date = requested_ship_date
        line.save(update_fields=["requested_ship_date", "updated_at"])
        audit_event_record(
            actor=actor,
            action="line.rescheduled",
            target=line,
            message=f"{line}: {before} -> {requested_ship_date}",
            data=field_changes({"requested_ship_date": before}, line, ["requested_ship_date"]),
        )
    return line


@transaction.atomic
def orders_import(
    *, document, actor, renewal_check=None, may_change_recipients: bool = True
) -> ImportResult:
    """Upsert every order of an orders file; all or nothing.

    Every order is validated before anything is written; any error in any order
    rolls the whole file back. `may_change_recipients`: see sales_order_upsert.
    """
    if isinstance(document, dict) and "orders" not in document:
        document = {"orders": [document]}
    orders = validate(OrdersFile, document)["orders"]
    numbers = [order["order_number"] for order in orders]
    problems = [
        f"orders[{i}].order_number: {n} is already in orders[{numbers.index(n)}]"
        for i, n in enumerate(numbers)
        if n in numbers[:i]
    ]
    result = ImportResult()
    only_conflicts = not problems
    for index, data in enumerate(orders):
        try:
            order, outcome = sales_order_upsert(
                data=data,
                actor=actor,
                path=f"orders[{index}].",
                renewal_check=renewal_check,
                may_change_recipients=may_change_recipients,
            )
        except Rejected as rejected:
            problems += rejected.errors
            only_conflicts = only_conflicts and isinstance(rejected, Conflict)
            continue
        result.add(f"order {order.order_number}", outcome)
    if problems:
        # Keep looking after the first bad order so the report is complete, then undo.
        raise (Conflict if only_conflicts else Rejected)(problems)
    return result


# Which states each Operations action moves a line from, and to.
_TRANSITIONS = {
    "hold": ((LineStatus.OPEN, LineStatus.BLOCKED), LineStatus.ON_HOLD),
    "release": ((LineStatus.ON_HOLD, LineStatus.BLOCKED), LineStatus.OPEN),
    "cancel": ((LineStatus.OPEN, LineStatus.ON_HOLD, LineStatus.BLOCKED), LineStatus.CANCELLED),
}


@transaction.atomic
def order_lines_transition(*, line_ids, action: str, actor, reason: str = "") -> list[OrderLine]:
    """Hold, release or cancel lines that have not shipped; returns the lines it changed.

    Takes each order's row lock first, as the sweep does, so an action and a shipment of
    the same order never interleave; a line that shipped meanwhile is left as it is.
    Released lines ship on the next sweep once they are due. One audit event per line.
    """
    sources, target = _TRANSITIONS[action]
    order_ids = set(OrderLine.objects.filter(pk__in=line_ids).values_list("order_id", flat=True))
    list(SalesOrder.objects.select_for_update().filter(pk__in=order_ids).order_by("pk"))
    lines = list(
        OrderLine.objects.select_for_update()
        .select_related("order")
        .filter(pk__in=line_ids, status__in=sources)
    )
    for line in lines:
        before = field_values(line, ["status", "status_reason"])
        line.status = target
        line.status_reason = reason if target != LineStatus.OPEN else ""
        line.waiting_for_keys = 0  # an action by a person ends the wait for keys
        line.save(update_fields=["status", "status_reason", "waiting_for_keys", "updated_at"])
        audit_event_record(
            actor=actor,
            action=f"line.{action}",
            target=line,
            message=f"{line}: {reason}".strip(": "),
            data=field_changes(before, line, ["status", "status_reason"]),
        )
    return lines
