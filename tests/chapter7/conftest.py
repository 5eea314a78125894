"""Chapter 7's notebooks as nbval items (``notebooks/``, see tests/nbvaltools.py), their kernels on the
participant of the chapter-7 stage (tests/stages.py) that test_feast_notebooks.py (notebooks 1 and 2)
and test_serving_notebooks.py (3 and 4) read too: notebook 1's store set up, a model trained through
Feast by CT, that model served. Also the small model's predictor and transformer (``servers``) that
test_serving.py and the Jukebox page's "what if" tests ask.
"""

import pytest
from nbvaltools import Workbench, collect
from notebooktools import lab_secrets
from servingtools import Registry, predictor_and_transformer

# Each notebook of notebooks/ and the fixture of its kernel: notebook 2 needs notebook 1's feature
# store, notebooks 3 and 4 also a model served by the participant's serving.
KERNELS = {
    "1-setup_feast.ipynb": "feast_workbench",
    "2-test_load_historical_features.ipynb": "feast_workbench_set_up",
    "3-test_load_online_features.ipynb": "serving_workbench",
    "4-request_feast_model.ipynb": "serving_workbench",
}


def pytest_collect_file(file_path, parent):
    return collect(file_path, parent, KERNELS)


@pytest.fixture(scope="session")
def feast_workbench(shared_lab, feast_participant) -> Workbench:
    """Notebook 1's kernel: the participant's variables."""
    return Workbench(feast_participant["env"], lab_secrets(shared_lab, feast_participant["user"]))


@pytest.fixture(scope="session")
def feast_workbench_set_up(feast_workbench, feast_set_up) -> Workbench:
    """Notebook 2's kernel: the participant's variables, once notebook 1 has set their feature store up."""
    return feast_workbench


@pytest.fixture(scope="session")
def serving_workbench(served) -> Workbench:
    """Notebooks 3 and 4's kernel: the variables of the participant whose model is served."""
    return Workbench(served.variables(), lab_secrets(served.lab, served.name))


@pytest.fixture(scope="session")
def registry(prepared, tmp_path_factory) -> Registry:
    """A registry whose version 1 (the small model) has the alias ``test``, as after CT deployed it."""
    registry = Registry(tmp_path_factory.mktemp("registry"))
    registry.set_alias(registry.register(prepared))
    return registry


@pytest.fixture(scope="session")
def servers(registry, feature_repo, tmp_path_factory):
    """A predictor and a transformer on the registry's version ``test``, the lab's way: test_serving.py's
    and the Jukebox page's "what if" tests ask them, and no test changes them."""
    with predictor_and_transformer(registry, feature_repo, tmp_path_factory.mktemp("logs")) as (model_server, front):
        yield model_server.ready(), front.ready()
