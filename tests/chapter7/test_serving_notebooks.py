"""Chapter 7's serving notebooks (3 and 4), run headless against a participant's model server in the lab.

The participant is conftest.py's ``served`` (shared with the notebooks' nbval items): a model
trained and deployed by CT, their serving started. The notebooks run from the chapter's folder with
that participant's variables, as in their workbench.
"""

import json
import urllib.request

import pytest
from labtools import Participant
from notebooktools import assert_no_secret, has_plot, outputs_text, parameters_cell
from notebooktools import execute as run_notebook

from jukebox.lab import serving
from jukebox.paths import REPO_ROOT

FOLDER = REPO_ROOT / "7-feature_store"
ONLINE = FOLDER / "3-test_load_online_features.ipynb"
REQUEST = FOLDER / "4-request_feast_model.ipynb"
ABBA = "3vkQ5DAB1qQMYO4Mr9zJN6"
LIVE_FOREVER = "1D2SVYXZdtNfJCg8wZWvVz"


def transformer_answer(participant: Participant, *song_ids: str) -> dict:
    """What the participant's transformer answers for ``song_ids`` (the Jukebox page's request)."""
    ids = {"name": "input", "shape": [len(song_ids), 1], "datatype": "STRING", "data": [[i] for i in song_ids]}
    request = urllib.request.Request(
        f"{participant.variables()['JUKEBOX_MODEL_URL']}/v2/models/jukebox/infer",
        data=json.dumps({"inputs": [ids]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def test_notebooks_are_saved_clean_and_parameterized():
    for path in (ONLINE, REQUEST):
        assert "os.environ.get(" in parameters_cell(path), path.name
        text = path.read_text()
        assert "127.0.0.1" not in text and "<paste" not in text and "/opt/app-root" not in text, path.name
    online = ONLINE.read_text()
    assert '"loudness"' not in online and '"energy"' not in online, "the feature list comes from the feature service"


@pytest.mark.slow
def test_online_features_scaled_by_the_served_scaler_give_the_transformer_s_answer(served, tmp_path):
    output = tmp_path / ONLINE.name
    notebook = run_notebook(ONLINE, output, served.variables(), cwd=FOLDER)
    text = outputs_text(notebook)
    version = serving.served_version(served.settings, served.name)
    assert "serving_fs has 13 features" in text
    assert f"The server serves {served.model_name} version {version}, with 13 inputs." in text
    assert "2 songs x " in text and f"from model version {version}" in text
    assert has_plot(notebook)
    # The model called by hand ranks ABBA's countries as the transformer does.
    outputs = {output["name"]: output for output in transformer_answer(served, ABBA)["outputs"]}
    codes, probabilities = outputs["country_codes"]["data"], outputs["probabilities"]["data"]
    best = max(range(len(codes)), key=probabilities.__getitem__)
    assert f"{ABBA}: most likely {codes[best]} ({probabilities[best]:.1%})" in text
    assert_no_secret(served.lab, served.name, output)


@pytest.mark.slow
def test_a_request_with_only_a_song_id_gets_its_countries_and_an_unknown_song_a_404(served, tmp_path):
    output = tmp_path / REQUEST.name
    notebook = run_notebook(REQUEST, output, served.variables(), cwd=FOLDER)
    text = outputs_text(notebook)
    version = serving.served_version(served.settings, served.name)
    assert f"Serving jukebox, version {version}" in text
    assert f"Model version {version}; outputs: " in text and "country_codes" in text
    assert "probabilities shape: [2, " in text
    assert f"HTTP 404: No song {LIVE_FOREVER} in the feature store (project music)" in text
    assert has_plot(notebook)
    assert_no_secret(served.lab, served.name, output)


@pytest.mark.slow
def test_status_shows_the_served_version_and_a_second_serve_starts_nothing(served):
    version = serving.served_version(served.settings, served.name)
    status = served.cli("status").stdout
    assert f"serves {served.model_name} version {version}" in status
    assert f"jukebox-ui-{served.name}" in status
    again = served.cli("serve", "--user", served.name).stdout
    assert f"model-server-{served.name} is already running" in again
    assert f"serves {served.model_name} version {version} (alias test)" in again
