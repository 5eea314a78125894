"""The code several steps share (``jukebox/components/step_helpers.py``), shipped into each by ``@ships``.

A step's pod has only the step's own code: a helper a step calls but does not ship would fail
there with a ``NameError``. These tests read every step's shipped code, check the helpers in the
compiled YAML are the kit's text, and check each helper's one-sentence errors.
"""

import builtins
import functools
import importlib
import inspect
import symtable
import textwrap

import pandas as pd
import pytest
import yaml
from botocore.exceptions import ClientError, EndpointConnectionError
from kfp import compiler, dsl
from kfp.dsl.python_component import PythonComponent
from pipelinetools import make_artifact

from jukebox.components import step_helpers
from jukebox.components.step_helpers import download_parquet, parquet_table, s3_failure
from jukebox.data_contract import FEATURES
from jukebox.data_server import serve_folder
from jukebox.paths import REPO_ROOT

STEP_MODULES = [
    "fetch_data",
    "data_preprocessing",
    "train_model",
    "evaluate_model",
    "save_model",
    *(f"jukebox.components.{path.stem}" for path in sorted((REPO_ROOT / "jukebox" / "components").glob("*.py"))),
]
HELPERS = [function for _, function in inspect.getmembers(step_helpers, inspect.isfunction)]


def kit_steps() -> dict[str, PythonComponent]:
    """Every step the kit defines, by its function's name (the fetches' workshop-shaped partials unwrapped)."""
    steps = {}
    for name in STEP_MODULES:
        for value in vars(importlib.import_module(name)).values():
            value = value.func if isinstance(value, functools.partial) else value
            if isinstance(value, PythonComponent):
                steps[value.python_func.__name__] = value
    return steps


def names_used_but_not_defined(source: str) -> set[str]:
    """The global names the function in ``source`` (and the functions inside it) read, builtins aside."""
    table = symtable.symtable(source, "step", "exec")
    found, tables = set(), list(table.get_children())
    while tables:
        scope = tables.pop()
        found |= {name for name in scope.get_globals() if scope.lookup(name).is_referenced()}
        tables.extend(scope.get_children())
    return found - set(dir(builtins))


def test_the_kit_has_the_steps_this_test_reads():
    steps = kit_steps()
    assert {"fetch_data", "fetch_data_from_dvc", "fetch_data_from_feast", "extract_data", "load_data"} <= set(steps)
    assert {"read_current_songs", "materialize_features", "version_with_dvc", "validate_data"} <= set(steps)


@pytest.mark.parametrize("step", sorted(kit_steps()))
def test_a_step_ships_every_helper_it_calls(step):
    source = textwrap.dedent(inspect.getsource(kit_steps()[step].python_func))
    undefined = names_used_but_not_defined(source)
    assert not undefined, f"{step} calls {', '.join(sorted(undefined))} without shipping it: add it to @ships(...)."


def test_the_compiled_pipelines_carry_each_helper_exactly_as_the_kit_writes_it(tmp_path):
    import prod_train_save_pipeline

    path = tmp_path / "training.yaml"
    compiler.Compiler().compile(prod_train_save_pipeline.training_pipeline, str(path))
    executors = next(yaml.safe_load_all(path.read_text()))["deploymentSpec"]["executors"]
    code = {name: executor["container"]["command"][-1] for name, executor in executors.items()}
    shipped = {name: [h.__name__ for h in HELPERS if f"def {h.__name__}(" in text] for name, text in code.items()}
    assert shipped["exec-fetch-data"] == ["download_parquet", "join_charts", "parquet_table"]
    for name, helpers in shipped.items():
        for helper in helpers:
            written = textwrap.indent(textwrap.dedent(inspect.getsource(getattr(step_helpers, helper))), "    ")
            assert written in code[name], f"{name} carries a {helper} that is not the one in step_helpers.py"


def parquet_bytes(frame: pd.DataFrame, tmp_path) -> bytes:
    frame.to_parquet(tmp_path / "file.parquet", index=False)
    return (tmp_path / "file.parquet").read_bytes()


@pytest.mark.parametrize(
    ("content", "sentence"),
    [
        (lambda tmp: b"", "The song properties at X are an empty file."),
        (lambda tmp: b"spotify_id,energy\n", "The song properties at X are not a parquet file."),
        (
            lambda tmp: parquet_bytes(pd.DataFrame({"spotify_id": ["a"]}), tmp),
            "The song properties at X lack the columns energy.",
        ),
        (
            lambda tmp: parquet_bytes(pd.DataFrame({"spotify_id": [], "energy": []}), tmp),
            "The song properties at X have no rows.",
        ),
    ],
    ids=["empty", "not-parquet", "missing-column", "no-rows"],
)
def test_a_bad_table_is_refused_in_one_sentence(tmp_path, content, sentence):
    with pytest.raises(RuntimeError) as error:
        parquet_table(content(tmp_path), "song properties", "at X", ["spotify_id", "energy"])
    assert str(error.value) == sentence


def test_a_good_table_is_read_whole(tmp_path):
    songs = pd.DataFrame({"spotify_id": ["a", "b"], "energy": [0.5, 0.25]})
    assert parquet_table(parquet_bytes(songs, tmp_path), "song properties", "at X", ["energy"]).equals(songs)


@pytest.fixture
def served(tmp_path):
    """A folder served over HTTP on 127.0.0.1, with the shipped charts of one song."""
    pd.DataFrame({"spotify_id": ["a"], "country": ["NL"], "snapshot_date": ["2024-01-01"]}).to_parquet(
        tmp_path / "song_rankings.parquet", index=False
    )
    with serve_folder(tmp_path) as url:
        yield url


def test_a_download_gives_the_table_and_the_md5_of_its_bytes(served, tmp_path):
    import hashlib

    table, md5 = download_parquet(f"{served}/song_rankings.parquet", "song rankings", ["spotify_id", "country"])
    assert list(table["country"]) == ["NL"]
    assert md5 == hashlib.md5((tmp_path / "song_rankings.parquet").read_bytes()).hexdigest()


def test_a_download_names_the_url_and_the_http_status_or_the_network_error(served):
    with pytest.raises(RuntimeError, match=f"^Cannot download the song rankings from {served}/x.parquet: HTTP 404.$"):
        download_parquet(f"{served}/x.parquet", "song rankings", [])
    with pytest.raises(RuntimeError, match=r"^Cannot download the song rankings from http://127.0.0.1:9/x: Connect"):
        download_parquet("http://127.0.0.1:9/x", "song rankings", [])


def test_the_url_and_feast_fetches_refuse_missing_charts_in_the_same_sentence(served, tmp_path, monkeypatch):
    """The three fetches share one download: same checks, same sentence (the DVC fetch's: test_fetch_data_from_dvc)."""
    from fetch_data import fetch_data, fetch_data_from_feast

    monkeypatch.delenv("FEAST_FS_YAML_FILE_PATH", raising=False)
    store_yaml = (
        f"project: music\nprovider: local\nregistry: {tmp_path}/registry.db\n"
        f"online_store:\n  type: sqlite\n  path: {tmp_path}/online.db\nentity_key_serialization_version: 3\n"
    )
    missing = f"{served}/missing.parquet"
    sentence = f"Cannot download the song rankings from {missing}: HTTP 404."
    dataset = make_artifact(dsl.Dataset, tmp_path, "dataset")
    with pytest.raises(RuntimeError) as by_url:
        fetch_data.func.python_func(rankings_url=missing, properties_url=missing, features=FEATURES, dataset=dataset)
    with pytest.raises(RuntimeError) as by_feast:
        fetch_data_from_feast.func.python_func(feature_store_yaml=store_yaml, rankings_url=missing, dataset=dataset)
    assert str(by_url.value) == str(by_feast.value) == sentence
    assert not (tmp_path / "dataset").exists()


@pytest.mark.parametrize(
    ("error", "sentence"),
    [
        (
            ClientError({"Error": {"Code": "InvalidAccessKeyId"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "Put"),
            "S3 at http://s3 refused the credentials: check the secret aws-connection-data.",
        ),
        (
            ClientError({"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "PutObject"),
            "Cannot write s3://data/x at http://s3: SlowDown.",
        ),
        (EndpointConnectionError(endpoint_url="http://s3"), "Cannot reach S3 at http://s3: EndpointConnectionError."),
    ],
    ids=["credentials", "s3s-own-code", "unreachable"],
)
def test_an_s3_failure_is_one_sentence(error, sentence):
    assert str(s3_failure(error, "http://s3", "write s3://data/x")) == sentence
