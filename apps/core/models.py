from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.actors import ActorKind


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_index=True)

    class Meta:
        abstract = True


class AuditEvent(models.Model):
    """Something a person, an API client or a job did, written in the same transaction as
    the change. Every row names its actor by kind and name (kept when the user or client is
    gone); a user is linked as `actor`, an API client by its id (`core` does not know the
    API's models)."""

    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)
    actor_kind = models.CharField(_("kind of actor"), max_length=16, choices=ActorKind.choices)
    actor_name = models.CharField(_("who"), max_length=200)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The staff member or portal user who did it, if a user did."),
    )
    actor_client_id = models.PositiveBigIntegerField(
        _("API client id"), null=True, blank=True, help_text=_("The API client that did it.")
    )
    action = models.CharField(_("action"), max_length=64, db_index=True)
    target_type = models.CharField(_("object type"), max_length=64)
    target_id = models.CharField(_("object"), max_length=64)
    message = models.TextField(_("what happened"), blank=True)
    data = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["target_id", "target_type"], name="audit_event_target_idx"),
            # The admin filters by kind and searches by name, newest first.
            models.Index(fields=["actor_kind", "-id"], name="audit_event_actor_kind_idx"),
            models.Index(Lower("actor_name"), name="audit_event_actor_name_idx"),
        ]
        constraints = [
            # Exactly one kind of actor, with a name: a user row never names a client, a
            # client row always does and links no user, jobs and unknown callers link none.
            # A user row may lose its link when the user is deleted; its name stays.
            models.CheckConstraint(
                condition=~Q(actor_name="")
                & (
                    Q(
                        actor_kind__in=[ActorKind.STAFF, ActorKind.USER],
                        actor_client_id__isnull=True,
                    )
                    | Q(
                        actor_kind=ActorKind.API_CLIENT,
                        actor__isnull=True,
                        actor_client_id__isnull=False,
                    )
                    | Q(
                        actor_kind__in=[ActorKind.JOB, ActorKind.UNKNOWN_CALLER],
                        actor__isnull=True,
                        actor_client_id__isnull=True,
                    )
                ),
                name="audit_event_names_one_actor",
            ),
        ]

    def __str__(self):
        return f"{self.action} {self.target_type} {self.target_id}"

    @property
    def actor_display(self) -> str:
        """Who did it, as the admin shows it: "Alice Smith (staff)", "ERP (API client)"."""
        if self.actor_kind == ActorKind.UNKNOWN_CALLER:
            return self.actor_name  # "unknown caller from 203.0.113.9" says it already
        return f"{self.actor_name} ({self.get_actor_kind_display()})"


class QueuedWork(models.Model):
    """A piece of follow-up work kept as a row: the row, not a Celery message, is the truth.

    A worker takes the row under a lease; a rescuer puts back rows whose lease ran out (a
    killed worker) and rows whose next attempt is due (a lost message).
    """

    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    lease_expires_at = models.DateTimeField(_("lease expires"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        abstract = True


class JobRun(models.Model):
    """One run of a scheduled job (the sweep, the rescuer): when, how long, what it did.

    Each run writes its own row, whatever host it ran on; only the last runs of each job are
    kept (`job_run_record` prunes the older ones)."""

    name = models.CharField(_("job"), max_length=64)
    host = models.CharField(_("host"), max_length=200, blank=True)
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"))
    summary = models.JSONField(_("what it did"), default=dict, blank=True)

    class Meta:
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")
        ordering = ["-id"]
        indexes = [models.Index(fields=["name", "-started_at"], name="job_run_name_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(finished_at__gte=models.F("started_at")), name="job_run_times_in_order"
            ),
        ]

    def __str__(self):
        return f"{self.name} {self.started_at:%Y-%m-%d %H:%M:%S}"

    @property
    def duration(self):
        return self.finished_at - self.started_at


class ProcessKind(models.TextChoices):
    BEAT = "beat", _("beat")
    WORKER = "worker", _("worker")


class Heartbeat(models.Model):
    """The last sign of life of a Celery process: beat (when it last sent the heartbeat task)
    and each worker on each queue (when it last ran it). One row per process and queue,
    written over in place, so any number of hosts report without a race."""

    kind = models.CharField(_("process"), max_length=16, choices=ProcessKind.choices)
    host = models.CharField(_("host"), max_length=200)
    queue = models.CharField(_("queue"), max_length=64, blank=True)
    last_seen = models.DateTimeField(_("last seen"))

    class Meta:
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")
        ordering = ["kind", "host", "queue"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "host", "queue"], name="heartbeat_unique"),
            models.CheckConstraint(
                condition=Q(kind__in=ProcessKind.values), name="heartbeat_kind_valid"
            ),
        ]

    def __str__(self):
        return f"{self.kind} {self.host} {self.queue}".strip()
