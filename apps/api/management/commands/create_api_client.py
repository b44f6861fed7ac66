from django.core.management.base import BaseCommand, CommandError

from apps.api.models import Scope
from apps.api.services import api_client_create
from apps.core.actors import Job
from apps.core.contracts import Rejected


class Command(BaseCommand):
    help = (
        "Create an API client and print its token, this once (only a hash is kept). "
        "The client sends it as: Authorization: Bearer <token>."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            choices=Scope.values,
            help="repeat for each; default: orders:write, orders:read and entitlements:read",
        )

    def handle(self, *args, name, scopes, **options):
        scopes = scopes or [Scope.ORDERS_WRITE, Scope.ORDERS_READ, Scope.ENTITLEMENTS_READ]
        try:
            client, token = api_client_create(
                name=name, scopes=scopes, actor=Job("create_api_client")
            )
        except Rejected as rejected:
            raise CommandError("; ".join(rejected.errors)) from None
        self.stderr.write(f"API client {client.name}: {', '.join(client.scopes)}")
        self.stdout.write(token)
