"""Who did something. Every audit event names one actor, never a default:

- a user (staff in the admin, a contact in the portal): the ``User`` itself;
- an API client: the ``ApiClient`` itself (its name is what the audit shows);
- a scheduled job or a command: ``Job("fulfil_due_task")``, named for the task or command.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Job:
    """A scheduled job or management command, named as the audit trail shows it."""

    name: str

    def __post_init__(self):
        if not self.name:
            raise ValueError("a job needs a name")

    def __str__(self) -> str:
        return self.name
