"""Every outgoing message takes the one path: a row on the outbox, sent by its sender.

A module that sent an email itself (Django's send_mail, a message's send(), a connection of
its own) would skip the row: no retry, no rescue, no trace in the admin's queue, and a
secret in it unsealed. So only the outbox's services may talk to the email backend, and
every kind of email has a writer registered.
"""

import ast
import pathlib

from apps.outbox import kinds
from apps.outbox.models import Channel, DeliveryKind

ROOT = pathlib.Path(__file__).resolve().parents[2]
SENDER = ROOT / "apps" / "outbox" / "services.py"
# Names that hand an email to the backend, wherever they are imported from.
SENDING_NAMES = {"send_mail", "send_mass_mail", "mail_admins", "mail_managers", "get_connection"}
# Kinds that are not emails.
NOT_EMAIL = {DeliveryKind.WEBHOOK_EVENT}


def _modules():
    for folder in ("apps", "config"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" not in path.parts and path != SENDER:
                yield path


def _sends(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and "mail" in node.module:
            found += [f"imports {a.name}" for a in node.names if a.name in SENDING_NAMES]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            # message.send() and connection.send_messages([...]): an email leaving here.
            if node.func.attr == "send_messages" or (
                node.func.attr == "send" and not node.args and not node.keywords
            ):
                found.append(f"line {node.lineno}: .{node.func.attr}()")
    return found


def test_only_the_outbox_hands_emails_to_the_backend():
    offenders = {
        str(path.relative_to(ROOT)): sends
        for path in _modules()
        if (sends := _sends(ast.parse(path.read_text(), filename=str(path))))
    }
    assert offenders == {}, "queue the message with apps.outbox.services.delivery_queue"


def test_the_sender_is_really_looked_at():
    # The walk above would pass on nothing; the sender itself must be caught by it.
    assert _sends(ast.parse(SENDER.read_text()))


def test_every_kind_of_email_has_a_writer():
    emails = {kind for kind in DeliveryKind.values if kind not in NOT_EMAIL}
    assert emails - set(kinds.registered()) == set()
    assert set(Channel.values) == {"email", "webhook"}
