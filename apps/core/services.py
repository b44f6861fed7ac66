from django.db import models

from apps.core.models import AuditEvent


def audit_event_record(
    *,
    actor=None,
    action: str,
    target: models.Model | None,
    message: str = "",
    data: dict | None = None,
) -> AuditEvent:
    """Record what happened to `target`. Call it inside the transaction of the change.

    `target` is None only where nothing known was acted on (an API call refused for a token
    that names no client): the event then has no object type or id.
    """
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        message=message,
        data=data or {},
    )


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


def field_changes(*, before: dict, after: dict) -> dict:
    """{field: {"old": ..., "new": ...}} for each field whose value differs, as audit
    events record a change. Values must be JSON's (text, numbers, booleans, None, lists)."""
    return {
        name: {"old": before.get(name), "new": value}
        for name, value in after.items()
        if before.get(name) != value
    }
