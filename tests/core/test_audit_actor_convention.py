"""Every audit event says who did it: no function that records one lets its actor default,
and nothing in the apps passes `actor=None`."""

import ast
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction

from apps.core.actors import Job, MissingActor
from apps.core.models import AuditEvent
from apps.core.services import audit_event_record
from tests.factories.accounts import UserFactory
from tests.factories.core import AuditEventFactory

APPS = Path(__file__).resolve().parents[2] / "apps"
RECORDERS = {"audit_event_record", "audit_event_build"}


def _modules():
    """The apps' service modules and every other module that records an audit event."""
    for path in sorted(APPS.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        text = path.read_text()
        if path.name == "services.py" or any(name in text for name in RECORDERS):
            yield path, ast.parse(text)


def _called_name(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def _actor_default(function) -> ast.expr | None | bool:
    """The default of the function's `actor` parameter; False when it takes none."""
    args = function.args
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for arg, default in zip(positional, defaults, strict=True):
        if arg.arg == "actor":
            return default
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        if arg.arg == "actor":
            return default
    return False


def test_the_walk_finds_the_modules_that_record_audit_events():
    walked = {path.relative_to(APPS).as_posix() for path, _tree in _modules()}

    assert {
        "core/services.py",
        "orders/services.py",
        "fulfillment/services.py",
        "entitlements/activations.py",
        "api/views.py",
    } <= walked


def test_no_function_that_records_an_audit_event_gives_its_actor_a_default():
    wrong = []
    for path, tree in _modules():
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            default = _actor_default(function)
            where = f"{path.relative_to(APPS)}:{function.lineno} {function.name}"
            if default not in (None, False):
                wrong.append(f"{where}: actor has a default")
            keyword_only = any(arg.arg == "actor" for arg in function.args.kwonlyargs)
            if default is None and not keyword_only and not function.name.startswith("_"):
                wrong.append(f"{where}: actor is not keyword-only")

    assert wrong == []


def test_every_audit_event_recorded_names_its_actor_and_never_none():
    wrong = []
    for path, tree in _modules():
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            keywords = {keyword.arg: keyword.value for keyword in call.keywords}
            where = f"{path.relative_to(APPS)}:{call.lineno}"
            if _called_name(call) in RECORDERS and "actor" not in keywords:
                wrong.append(f"{where}: {_called_name(call)} without actor=")
    for path in sorted(APPS.rglob("*.py")):
        for call in ast.walk(ast.parse(path.read_text())):
            if not isinstance(call, ast.Call):
                continue
            for keyword in call.keywords:
                value = keyword.value
                if keyword.arg == "actor" and isinstance(value, ast.Constant):
                    wrong.append(f"{path.relative_to(APPS)}:{call.lineno}: actor={value.value!r}")
        if "actor=None" in path.read_text():
            wrong.append(f"{path.relative_to(APPS)}: the text actor=None")

    assert wrong == []


@pytest.mark.django_db
@pytest.mark.parametrize("nobody", [None, AnonymousUser()])
def test_an_audit_event_without_an_actor_is_refused_and_says_how_to_name_one(nobody):
    with pytest.raises(MissingActor, match=r'request\'s user, the ApiClient, or Job\("<task'):
        audit_event_record(actor=nobody, action="order.created", target=None)

    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_an_actor_of_another_kind_is_refused():
    with pytest.raises(MissingActor, match="not str"):
        audit_event_record(actor="fulfil_due_task", action="order.created", target=None)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [
        {"actor_kind": "job", "actor_name": ""},
        {"actor_kind": "", "actor_name": "fulfil_due_task"},
        {"actor_kind": "robot", "actor_name": "fulfil_due_task"},
        {"actor_kind": "api_client", "actor_name": "ERP"},  # which client?
        {"actor_kind": "job", "actor_name": "fulfil_due_task", "actor_client_id": 1},
        {"actor_kind": "staff", "actor_name": "Alice", "actor_client_id": 1},
        {"actor_kind": "api_client", "actor_name": "ERP", "actor_client_id": 1, "actor": True},
        {"actor_kind": "unknown_caller", "actor_name": "unknown caller", "actor": True},
    ],
)
def test_the_database_refuses_an_event_that_does_not_name_exactly_one_actor(fields):
    if fields.get("actor"):
        fields["actor"] = UserFactory()
    with pytest.raises(IntegrityError, match="audit_event_names_one_actor"), transaction.atomic():
        AuditEventFactory(**fields)


@pytest.mark.django_db
def test_each_kind_of_actor_is_stored_by_kind_and_name():
    alice = UserFactory(name="Alice Smith", is_staff=True)
    bob = UserFactory(name="", email="bob@northwind.example")

    events = [
        audit_event_record(actor=actor, action="test.done", target=None)
        for actor in (alice, bob, Job("fulfil_due_task"))
    ]

    assert [event.actor_display for event in events] == [
        "Alice Smith (staff)",
        "bob@northwind.example (portal user)",
        "fulfil_due_task (job)",
    ]
    assert [event.actor for event in events] == [alice, bob, None]
    alice.delete()
    events[0].refresh_from_db()
    assert (events[0].actor, events[0].actor_display) == (None, "Alice Smith (staff)")
