"""Who did something. Every audit event names one actor, never a default:

- a user (staff in the admin, a contact in the portal): the ``User`` itself;
- an API client: the ``ApiClient`` itself (its name is what the audit shows);
- a scheduled job or a command: ``Job("fulfil_due_task")``, named for the task or command;
- a caller of the API whose token names no client: ``UnknownCaller("203.0.113.9")``.

``core`` is below the app that holds API clients, so it does not import them: a model that
can act declares ``audit_actor_kind = ActorKind.API_CLIENT`` and is named by its ``str()``.
"""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import models
from django.utils.translation import gettext_lazy as _


class ActorKind(models.TextChoices):
    STAFF = "staff", _("staff")
    USER = "user", _("portal user")
    API_CLIENT = "api_client", _("API client")
    JOB = "job", _("job")
    UNKNOWN_CALLER = "unknown_caller", _("unknown caller")


@dataclass(frozen=True)
class Job:
    """A scheduled job or management command, named as the audit trail shows it."""

    name: str

    def __post_init__(self):
        if not self.name:
            raise ValueError("a job needs a name")

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class UnknownCaller:
    """A caller of the API that no valid token names, known only by its address."""

    address: str

    def __str__(self) -> str:
        return f"unknown caller from {self.address or 'an unknown address'}"


class MissingActor(ValueError):
    """An audit event was to be written without saying who did it."""


def actor_fields(actor) -> dict:
    """The AuditEvent fields that name `actor` (see the module's docstring for what it may
    be). None and an anonymous user are refused: somebody or something always acted."""
    if actor is None or getattr(actor, "is_anonymous", False):
        raise MissingActor(
            f"an audit event needs its actor: the request's user, the ApiClient, or "
            f'Job("<task or command>") for a job; got {actor!r}'
        )
    fields = {"actor": None, "actor_client_id": None}
    if isinstance(actor, Job):
        return {**fields, "actor_kind": ActorKind.JOB, "actor_name": actor.name}
    if isinstance(actor, UnknownCaller):
        return {**fields, "actor_kind": ActorKind.UNKNOWN_CALLER, "actor_name": str(actor)}
    if isinstance(actor, get_user_model()):
        if actor.pk is None:
            raise MissingActor("an audit event's user must be saved first")
        return {
            **fields,
            "actor": actor,
            "actor_kind": ActorKind.STAFF if actor.is_staff else ActorKind.USER,
            "actor_name": (getattr(actor, "name", "") or actor.get_username())[:200],
        }
    if getattr(actor, "audit_actor_kind", None) == ActorKind.API_CLIENT and actor.pk:
        return {
            **fields,
            "actor_kind": ActorKind.API_CLIENT,
            "actor_name": str(actor)[:200],
            "actor_client_id": actor.pk,
        }
    raise MissingActor(
        f"an audit event's actor is a User, an ApiClient, a Job or an UnknownCaller, "
        f"not {type(actor).__name__}"
    )


def actor_user(actor):
    """The signed-in user who acted, or None for a job, an API client or an unknown caller:
    for the columns that keep a person (who asked for a resend, who activated)."""
    return actor if isinstance(actor, get_user_model()) and actor.is_authenticated else None
