from django.db import transaction
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.core.health import broker_check, database_check


@never_cache
@require_GET
@transaction.non_atomic_requests  # a request transaction would fail before the check runs
def healthz(request):
    """The state of the database and the broker; 503 when one of them is down."""
    problems = {"database": database_check(), "broker": broker_check()}
    body = {
        name: ("ok" if problem is None else f"down: {problem}")
        for name, problem in problems.items()
    }
    healthy = all(problem is None for problem in problems.values())
    body["status"] = "ok" if healthy else "down"
    return JsonResponse(body, status=200 if healthy else 503)
