from apps.accounts.services import accounts_import
from apps.core.actors import Job
from apps.core.importing import JsonImportCommand


class Command(JsonImportCommand):
    help = (
        "Import accounts and contacts from a JSON file "
        '({"accounts": [...], "contacts": [...]}); all or nothing.'
    )

    def run(self, document):
        return accounts_import(document=document, actor=Job("import_accounts"))
