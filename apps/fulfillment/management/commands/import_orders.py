from apps.core.actors import Job
from apps.core.importing import JsonImportCommand
from apps.entitlements.selectors import renewal_problem
from apps.orders.services import orders_import


class Command(JsonImportCommand):
    help = (
        'Import sales orders from a JSON file ({"orders": [...]} or one order); '
        "idempotent on the order number; all or nothing."
    )

    def run(self, document):
        return orders_import(
            document=document, actor=Job("import_orders"), renewal_check=renewal_problem
        )
