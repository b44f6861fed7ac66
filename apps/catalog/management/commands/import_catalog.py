from apps.catalog.services import catalog_import
from apps.core.actors import Job
from apps.core.importing import JsonImportCommand


class Command(JsonImportCommand):
    help = 'Import products from a JSON file ({"products": [...]}); all or nothing.'

    def run(self, document):
        return catalog_import(document=document, actor=Job("import_catalog"))
