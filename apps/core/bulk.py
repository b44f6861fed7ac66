"""Bulk actions: one action of the admin on many rows, with a dry run first.

Each app registers the kinds of rows it owns (entitlements by SSRN, activations by device
serial number, order lines by order number and line number) and the actions it offers on
them, from its AppConfig.ready, so that the core, lowest of the layers, knows none of them:

    bulk_action_register(BulkAction(
        name="suspend", label=_("Suspend"), permission="entitlements.suspend_entitlement",
        kind="entitlement", fields=reason_field,
        perform=lambda row, params, actor: entitlement_suspend(
            entitlement_id=row.pk, reason=params["reason"], actor=actor),
    ))

The preview is a dry run of the very services: the rows are performed one after another,
each in a savepoint (a refused one rolls back alone, as its own transaction would), and the
whole run is rolled back at the end. So the preview and the confirmation cannot disagree, and
the preview writes nothing: no audit event, no change, no email and no webhook (their rows
are rolled back, and the on-commit callbacks that would wake the workers are dropped with
the savepoint). The confirmation performs exactly the rows that the preview said would be
done, each in its own transaction, and reports each row's outcome; a row that changed in
between gets its new refusal.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django import forms
from django.core import signing
from django.db import models, transaction
from django.utils.translation import gettext as _

from apps.core.codes import CodeKind, parse_code
from apps.core.contracts import Rejected
from apps.core.csv_files import csv_dict_rows
from apps.core.text import has_control_characters

logger = logging.getLogger(__name__)

# The preview and the confirmation run in the web request, row after row, each row through
# its service (measured: 12 ms a row to preview and 18 ms to confirm a suspension, on two
# cores), and gunicorn ends a request after 30 seconds: a thousand rows fit with room to spare.
MAX_ROWS = 1_000
# 1,000 identifiers of up to 64 characters with their line breaks, and room to spare.
MAX_FILE_BYTES = 256 * 1024
# A preview is confirmed by the same person within this many seconds, or previewed again.
TOKEN_MAX_AGE = 60 * 60
# Malformed files: a person fixes the first few, then uploads again.
MAX_PROBLEMS = 50

WILL, DONE, REFUSED, NOT_FOUND, FAILED = "will", "done", "refused", "not_found", "failed"


@dataclass(frozen=True)
class RowKind:
    """The rows an action targets and how a file names them.

    `column` is the header of the file's one column; `normalise(text)` returns the key the
    text stands for, as search reads it (case, spaces), or raises ValueError with what is
    wrong with it; `find(keys)` returns {key: [rows]} (a key may name several rows, or none);
    `identify(row)` is how the preview names a row; `queryset()` loads rows by primary key.
    """

    name: str
    label: Callable[[], str]
    column: str
    normalise: Callable[[str], str]
    find: Callable[[list[str]], dict[str, list[models.Model]]]
    identify: Callable[[models.Model], str]
    queryset: Callable[[], models.QuerySet]


@dataclass(frozen=True)
class BulkAction:
    """One action on many rows.

    `fields()` returns the extra form fields {name: forms.Field} (a reason, account IDs),
    whose cleaned values must be JSON (they travel in the signed confirmation); `check(row,
    params)` returns a refusal for what the service does not refuse itself (it may be left
    out: the dry run of `perform` tells the service's own refusals); `perform(row, params,
    actor)` calls the service and may return a few words on what it did; it raises Rejected
    to refuse. `once_per(row)` gives a key for rows that one perform covers together (the
    same email for two entitlements): after the first, such rows are refused.
    """

    name: str
    label: Callable[[], str] | str
    permission: str
    kind: str
    perform: Callable
    fields: Callable[[], dict] = dict
    check: Callable | None = None
    once_per: Callable | None = None

    def allowed(self, user) -> bool:
        return user.has_perm(self.permission)


_kinds: dict[str, RowKind] = {}
_actions: dict[str, BulkAction] = {}


def row_kind_register(kind: RowKind) -> None:
    _kinds[kind.name] = kind


def bulk_action_register(action: BulkAction) -> None:
    # Its kind may be registered by an app that is ready later; the tests check every kind.
    _actions[action.name] = action


def bulk_actions_all() -> list[BulkAction]:
    return list(_actions.values())


def reason_field() -> dict:
    """The extra field of most actions: the reason, kept in each row's audit event."""
    return {
        "reason": forms.CharField(
            label=_("Reason (kept in the audit log)"), max_length=200, strip=True
        )
    }


def row_kind(name: str) -> RowKind:
    return _kinds[name]


def bulk_actions_for(*, user, kind: str | None = None) -> list[BulkAction]:
    """The actions this member of staff may run, of one kind of rows or all, by label."""
    return sorted(
        (
            action
            for action in _actions.values()
            if (kind is None or action.kind == kind) and action.allowed(user)
        ),
        key=lambda action: (action.kind, str(action.label)),
    )


def bulk_action(*, name: str, user) -> BulkAction | None:
    """The action, if it exists and this member of staff may run it."""
    action = _actions.get(name)
    return action if action is not None and action.allowed(user) else None


@dataclass
class Target:
    line: int | None  # in the file; None for a selection
    identifier: str
    row: models.Model | None  # None: nothing has this identifier


@dataclass
class Outcome:
    line: int | None
    identifier: str
    status: str
    message: str = ""
    pk: int | None = field(default=None, repr=False)


def bulk_file_read(data: bytes, *, name: str, kind: RowKind) -> list[Target]:
    """The rows a file names, one identifier a line under the header `kind.column`, each found
    or not. Rejected, naming the line of each problem, when the file is not such a file: not
    UTF-8 text, empty, another header, an identifier that cannot be one, the same one twice,
    more than MAX_ROWS rows or MAX_FILE_BYTES bytes."""
    if len(data) > MAX_FILE_BYTES:
        line = data[:MAX_FILE_BYTES].count(b"\n") + 1
        raise Rejected([_problem(name, line, _too_large())])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise Rejected([_problem(name, line, _("not UTF-8 text (byte %d)") % exc.start)]) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise Rejected([_problem(name, line, _("a NUL byte: this is not a text file"))])
    header, rows = csv_dict_rows(text, source=name)
    wanted = _("the first line must be the header “%(column)s”, then one %(column)s a line") % {
        "column": kind.column
    }
    if not header:
        raise Rejected([_problem(name, 1, _("the file is empty: %(wanted)s") % {"wanted": wanted})])
    if [column.lower().lstrip("\ufeff") for column in header] != [kind.column]:
        raise Rejected([_problem(name, 1, wanted)])
    if len(rows) > MAX_ROWS:
        line = rows[MAX_ROWS][0]
        raise Rejected([_problem(name, line, _too_many())])
    problems: list[str] = []
    keys: dict[str, int] = {}
    read: list[tuple[int, str]] = []
    for line, values in rows:
        text = (values.get(header[0]) or "").strip()
        if any((extra or "").strip() for extra in values.get(None) or []):
            problems.append(
                _problem(name, line, _("one column only, “%(column)s”") % {"column": kind.column})
            )
            continue
        if parse_code(text).kind == CodeKind.ACTIVATION_CODE:
            # Never quoted back: an activation code stays off pages and out of logs.
            problems.append(
                _problem(
                    name,
                    line,
                    _("an activation code: the file holds “%(column)s” values only")
                    % {"column": kind.column},
                )
            )
            continue
        try:
            key = kind.normalise(text)
        except ValueError as exc:
            problems.append(_problem(name, line, str(exc)))
            continue
        if key in keys:
            problems.append(
                _problem(
                    name,
                    line,
                    _("%(key)s is on line %(line)d already")
                    % {
                        "key": key,
                        "line": keys[key],
                    },
                )
            )
            continue
        keys[key] = line
        read.append((line, key))
    if problems:
        if len(problems) > MAX_PROBLEMS:
            more = len(problems) - MAX_PROBLEMS
            problems = [*problems[:MAX_PROBLEMS], _("%(count)d more problems") % {"count": more}]
        raise Rejected(problems)
    if not read:
        raise Rejected(
            [_problem(name, 2, _("no “%(column)s” value in the file") % {"column": kind.column})]
        )
    found = kind.find([key for _line, key in read])
    return [
        Target(line=line, identifier=kind.identify(row) if row is not None else key, row=row)
        for line, key in read
        for row in (found.get(key) or [None])
    ]


def _problem(name: str, line: int, message: str) -> str:
    return _("%(name)s: line %(line)d: %(problem)s") % {
        "name": name,
        "line": line,
        "problem": message,
    }


def _too_large() -> str:
    return _("the file is larger than %(limit)d KB: split it") % {"limit": MAX_FILE_BYTES // 1024}


def _too_many() -> str:
    return _("more than %(count)s rows: split the file") % {"count": f"{MAX_ROWS:,}"}


def bulk_selection_targets(*, kind: RowKind, ids) -> list[Target]:
    """The rows of an admin changelist's selection, in their order. Rejected past MAX_ROWS."""
    ids = list(ids)
    if len(ids) > MAX_ROWS:
        raise Rejected([_too_many()])
    rows = kind.queryset().in_bulk(ids)
    return [
        Target(line=None, identifier=kind.identify(rows[pk]), row=rows[pk])
        for pk in ids
        if pk in rows
    ]


def _run_row(action: BulkAction, row, params: dict, actor, covered: dict, identifier: str):
    """(status, message) of performing the row in a savepoint: refused rows roll back."""
    group = action.once_per(row) if action.once_per else None
    if group is not None and group in covered:
        return REFUSED, _("Done already with %(identifier)s.") % {"identifier": covered[group]}
    try:
        with transaction.atomic():
            refusal = action.check(row, params) if action.check is not None else None
            if refusal:
                return REFUSED, str(refusal)
            detail = action.perform(row, params, actor)
    except Rejected as rejected:
        return REFUSED, " ".join(str(error) for error in rejected.errors)
    except Exception:
        # A fault of ours, not of the row: logged, and the row undone alone.
        logger.exception("bulk %s: row %s failed", action.name, row.pk)
        return FAILED, _("An unexpected error; nothing was changed on this row.")
    if group is not None:
        covered[group] = identifier
    return DONE, str(detail or "")


def bulk_preview(
    *, action: BulkAction, targets: list[Target], params: dict, actor
) -> list[Outcome]:
    """What confirming would do to each row: performed in order, as the confirmation will,
    in a transaction that is then rolled back. Writes nothing, queues nothing."""
    outcomes, covered = [], {}
    with transaction.atomic():
        for target in targets:
            if target.row is None:
                outcomes.append(Outcome(target.line, target.identifier, NOT_FOUND, _("Not found.")))
                continue
            status, message = _run_row(
                action, target.row, params, actor, covered, target.identifier
            )
            outcomes.append(
                Outcome(
                    target.line,
                    target.identifier,
                    WILL if status == DONE else status,
                    message,
                    pk=target.row.pk,
                )
            )
        transaction.set_rollback(True)
    return outcomes


def bulk_perform(*, action: BulkAction, rows: list[tuple[int | None, int]], params: dict, actor):
    """Perform the action on these rows (line, primary key), each in its own transaction
    with its own audit event from the service: a refused or failed row undoes only itself.
    Call outside a transaction. Returns each row's Outcome."""
    kind = row_kind(action.kind)
    outcomes, covered = [], {}
    for line, pk in rows:
        found = kind.queryset().filter(pk=pk).first()
        if found is None:
            outcomes.append(Outcome(line, f"#{pk}", NOT_FOUND, _("Not found."), pk=pk))
            continue
        identifier = kind.identify(found)
        status, message = _run_row(action, found, params, actor, covered, identifier)
        outcomes.append(Outcome(line, identifier, status, message, pk=pk))
    return outcomes


_SALT = "keyship.bulk"


def bulk_token(
    *, action: BulkAction, outcomes: list[Outcome], params: dict, user, source: str
) -> str:
    """The signed confirmation of a preview: who, which action, with what, on which rows
    (only those the preview said would be done)."""
    rows = [[o.line, o.pk] for o in outcomes if o.status == WILL]
    return signing.dumps(
        {"a": action.name, "u": user.pk, "p": params, "r": rows, "s": source},
        salt=_SALT,
        compress=True,
    )


def bulk_token_read(token: str, *, user) -> dict:
    """The confirmation's contents; signing.BadSignature when it is forged, expired or not
    this person's."""
    data = signing.loads(token, salt=_SALT, max_age=TOKEN_MAX_AGE)
    if data.get("u") != user.pk:
        raise signing.BadSignature("another person's preview")
    return data


def selection_token(*, kind: RowKind, ids: list[int], user) -> str:
    return signing.dumps(
        {"k": kind.name, "u": user.pk, "i": ids}, salt=_SALT + ".selection", compress=True
    )


def selection_token_read(token: str, *, user) -> tuple[RowKind, list[int]]:
    data = signing.loads(token, salt=_SALT + ".selection", max_age=TOKEN_MAX_AGE)
    if data.get("u") != user.pk or data.get("k") not in _kinds:
        raise signing.BadSignature("another person's selection")
    return _kinds[data["k"]], data["i"]


def identifier_plain(text: str, *, limit: int = 70) -> str:
    """A typed identifier as an error quotes it: no control characters, not too long."""
    if has_control_characters(text):
        return "?"
    return text if len(text) <= limit else text[:limit] + "…"
