import contextlib
import datetime
import decimal
import logging
import socket
import uuid
from enum import Enum

from django.db import models, transaction
from django.utils import timezone

from apps.core.actors import actor_fields
from apps.core.models import AuditEvent, Heartbeat, JobRun
from apps.core.text import escaped

logger = logging.getLogger(__name__)

# Fields whose values never go into audit data, whatever the model: codes, keys, tokens,
# passwords and their digests. field_changes leaves them out even when a caller names them.
SECRET_FIELDS = frozenset(
    {
        "activation_code",
        "activation_code_digest",
        "activation_code_sealed",
        "authorization_code",
        "license_key",
        "license_key_sealed",
        "key_text",
        "text",
        "text_sealed",
        "token",
        "token_digest",
        "token_prefix",
        "secret",
        "password",
        "private_key",
    }
)


def audit_event_build(
    *,
    actor,
    action: str,
    target: models.Model | None,
    message: str = "",
    data: dict | None = None,
) -> AuditEvent:
    """The unsaved event audit_event_record writes, for a caller that inserts many at once.
    `actor` as for audit_event_record."""
    return AuditEvent(
        **actor_fields(actor),
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        # A message may quote the caller (a path, a typed key): a control character in it is
        # kept as its escape, as in the logs; PostgreSQL refuses a NUL in text.
        message=escaped(message),
        data=data or {},
    )


def audit_event_record(
    *,
    actor,
    action: str,
    target: models.Model | None,
    message: str = "",
    data: dict | None = None,
) -> AuditEvent:
    """Record what happened to `target`. Call it inside the transaction of the change.

    `actor` is who did it, always given: a User (the request's user), an ApiClient
    (`request.auth`), a `Job("<task or command>")` or an `UnknownCaller(address)`; None and
    an anonymous user raise MissingActor. `target` is None only where nothing known was
    acted on (an API call refused for a token that names no client): the event then has no
    object type or id.
    """
    event = audit_event_build(actor=actor, action=action, target=target, message=message, data=data)
    event.save()
    return event


def _json_safe(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Enum):
        return _json_safe(value.value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return str(value)  # what the admin shows for it; no model's str() holds a secret
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    return str(value)


def field_values(record, fields) -> dict:
    """A JSON-safe snapshot of `fields` of a model instance (or a dict), secrets left out:
    what field_changes compares. None (nothing there yet) gives an empty snapshot."""
    if record is None:
        return {}
    get = record.get if isinstance(record, dict) else lambda name: getattr(record, name, None)
    return {name: _json_safe(get(name)) for name in fields if name not in SECRET_FIELDS}


def field_changes(before, after, fields=None) -> dict:
    """`{"field": {"old": ..., "new": ...}}` for each of `fields` whose value differs between
    `before` and `after` (model instances, dicts or field_values snapshots), as an audit
    event's data; without `fields`, the keys of `after` (a dict). Values are JSON-safe; a
    field of SECRET_FIELDS is never included."""
    if fields is None:
        fields = list(after)
    old, new = field_values(before, fields), field_values(after, fields)
    return {
        name: {"old": old.get(name), "new": new.get(name)}
        for name in fields
        if name not in SECRET_FIELDS and old.get(name) != new.get(name)
    }


def record_upsert(*, model: type[models.Model], lookup: dict, values: dict):
    """Create or update the row that `lookup` names with `values`; write only what differs.

    Returns (row, outcome) with outcome "created", "updated" or "unchanged", so that a
    second import of the same file changes nothing.
    """
    row = model.objects.select_for_update().filter(**lookup).first()
    if row is None:
        return model.objects.create(**lookup, **values), "created"
    changed = [name for name, value in values.items() if getattr(row, name) != value]
    if not changed:
        return row, "unchanged"
    for name in changed:
        setattr(row, name, values[name])
    row.save(update_fields=[*changed, *(["updated_at"] if hasattr(row, "updated_at") else [])])
    return row, "updated"


# Runs kept per job: a few hours of the every-minute jobs, enough to see a pattern.
JOB_RUNS_KEPT = 200
# A process not heard from in this long is gone (a retired host), not merely late.
HEARTBEAT_FORGOTTEN_AFTER = datetime.timedelta(days=1)


def job_run_record(
    *,
    name: str,
    started_at: datetime.datetime,
    finished_at: datetime.datetime,
    summary: dict,
    host: str = "",
) -> JobRun:
    """Record one run of a scheduled job and forget its runs beyond the last JOB_RUNS_KEPT.

    Its own short transaction, after the job's work: a record of what ran, not a state
    change, so it writes no audit event (each shipped line or handed-back row has its own).
    Safe with runs on many hosts at once: each inserts its own row, and pruning a row that
    another run pruned already deletes nothing."""
    with transaction.atomic():
        run = JobRun.objects.create(
            name=name,
            host=host or socket.gethostname(),
            started_at=started_at,
            finished_at=max(finished_at, started_at),
            summary=summary,
        )
        keep_from = (
            JobRun.objects.filter(name=name)
            .order_by("-started_at", "-id")
            .values_list("started_at", flat=True)[JOB_RUNS_KEPT - 1 : JOB_RUNS_KEPT]
        )
        cutoff = next(iter(keep_from), None)
        if cutoff is not None:
            JobRun.objects.filter(name=name, started_at__lt=cutoff).delete()
    return run


@contextlib.contextmanager
def job_run(name: str):
    """Time a scheduled job and record its run; the body fills the yielded summary. A run
    that raises is recorded too, with the error's type, and the error goes on."""
    started_at, summary = timezone.now(), {}
    try:
        yield summary
    except BaseException as error:
        summary["error"] = type(error).__name__
        raise
    finally:
        try:
            job_run_record(
                name=name, started_at=started_at, finished_at=timezone.now(), summary=summary
            )
        except Exception:
            # The job's own work stands; a record that cannot be written is only logged.
            logger.exception("the run of %s could not be recorded", name)


def heartbeat_record(*, kind: str, host: str, queue: str = "") -> None:
    """Say that a process is alive now: one upsert on (kind, host, queue), so that workers
    and beats on many hosts write at once without a race; and forget the processes not
    heard from in a day (a retired host must not warn for ever). Writes no audit event:
    it changes nothing anybody decided."""
    now = timezone.now()
    with transaction.atomic():
        Heartbeat.objects.bulk_create(
            [Heartbeat(kind=kind, host=host, queue=queue, last_seen=now)],
            update_conflicts=True,
            unique_fields=["kind", "host", "queue"],
            update_fields=["last_seen"],
        )
        Heartbeat.objects.filter(last_seen__lt=now - HEARTBEAT_FORGOTTEN_AFTER).delete()
