"""The layers in pyproject.toml hold, and an import that runs back up breaks them.

`make lint` runs `lint-imports` on the same contracts; this test reads them from
pyproject.toml and checks them on the project's import graph, then on the graph with one
import added that a careless change could bring (a lower app reaching up, an app reading the
settings module), and expects each to be reported.
"""

import copy
from pathlib import Path

import grimp
import pytest
from importlinter import api
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.layers import LayersContract

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_TYPES = {"layers": LayersContract, "forbidden": ForbiddenContract}


@pytest.fixture(scope="module")
def configuration():
    return api.read_configuration(str(ROOT / "pyproject.toml"))


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("apps", "config", cache_dir=None)


def _contract(configuration, contract_id):
    options = next(o for o in configuration["contracts_options"] if o.get("id") == contract_id)
    return CONTRACT_TYPES[options["type"]](
        name=options["name"],
        session_options=configuration["session_options"],
        contract_options=options,
    )


def _kept(configuration, graph, contract_id, added=None) -> bool:
    graph = copy.deepcopy(graph)
    if added:
        importer, imported = added
        graph.add_import(
            importer=importer, imported=imported, line_number=1, line_contents="import"
        )
    return _contract(configuration, contract_id).check(graph, verbose=False).kept


def test_the_layers_are_kept_today(configuration, graph):
    assert _kept(configuration, graph, "layers")
    assert _kept(configuration, graph, "no-config")


@pytest.mark.parametrize(
    "importer, imported",
    [
        ("apps.core.models", "apps.accounts.models"),  # core is the bottom
        ("apps.orders.models", "apps.entitlements.models"),
        ("apps.entitlements.services", "apps.lms.services"),
        ("apps.entitlements.services", "apps.notifications.services"),
        ("apps.notifications.services", "apps.fulfillment.services"),
        ("apps.fulfillment.services", "apps.backoffice.selectors"),
        ("apps.portal.views", "apps.backoffice.selectors"),  # siblings stay apart
        ("apps.accounts.services", "apps.catalog.models"),
    ],
)
def test_an_import_up_the_layers_is_reported(configuration, graph, importer, imported):
    assert not _kept(configuration, graph, "layers", added=(importer, imported))


def test_an_app_importing_config_is_reported(configuration, graph):
    assert not _kept(configuration, graph, "no-config", added=("apps.orders.models", "config"))
