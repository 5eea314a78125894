"""The data contract (``jukebox/data_contract.py``) and the one step that checks it, without a lab.

Every rule refuses data with one sentence naming the column, the rule and an example row; extra
columns are kept; the shipped data keep the contract; the compiled pipelines carry the contract
itself as the validation step's parameter, so what runs in a pod is what is defined here.
"""

import pandas as pd
import pytest
import yaml
from kfp import compiler, dsl
from pipelinetools import make_artifact

from jukebox import data_contract
from jukebox.components.validation import validate_data
from jukebox.data_contract import CHARTS, FEATURES, SONG_PROPERTIES, TRAINING_DATA
from jukebox.paths import DATA_PREP, REPO_ROOT

ID = "59NraMJsLaMCVtwXTSia8i"  # the first song of small_song_properties.parquet


@pytest.fixture(scope="module")
def songs() -> pd.DataFrame:
    frame = pd.read_parquet(DATA_PREP / "small_song_properties.parquet").head(300)
    assert frame["spotify_id"].iloc[0] == ID
    return frame


def check(frame: pd.DataFrame, tmp_path, contract=SONG_PROPERTIES) -> str:
    """Run the validation step on ``frame``; return its refusal ('' when the data keep the contract)."""
    dataset = make_artifact(dsl.Dataset, tmp_path, "songs.parquet")
    frame.to_parquet(dataset.path, index=False)
    try:
        validate_data.python_func(dataset=dataset, contract=contract)
    except ValueError as refusal:
        return str(refusal)
    return ""


def with_value(frame: pd.DataFrame, column: str, value, row: int = 0) -> pd.DataFrame:
    changed = frame.copy()
    changed[column] = changed[column].astype(object) if isinstance(value, str) else changed[column]
    changed.loc[changed.index[row], column] = value
    return changed


BROKEN = {
    "negative tempo": (
        lambda songs: with_value(songs, "tempo", -1.0),
        f"tempo must be ≥ 0: 1 row breaks it (spotify_id {ID})",
    ),
    "danceability above 1": (
        lambda songs: with_value(songs, "danceability", 1.7),
        f"danceability must be ≤ 1: 1 row breaks it (spotify_id {ID})",
    ),
    "duration as text": (
        lambda songs: songs.assign(duration_ms=songs["duration_ms"].astype(str)),
        "duration_ms must hold whole numbers: it holds text",
    ),
    "an empty feature column": (
        lambda songs: songs.assign(energy=None),
        "energy must have a value in every row: it is empty",
    ),
    "a missing value": (
        lambda songs: with_value(songs, "valence", None),
        f"valence must have a value in every row: 1 row lacks one (spotify_id {ID})",
    ),
    "a mode of 2": (
        lambda songs: with_value(songs, "mode", 2),
        f"mode must be one of 0, 1: 1 row breaks it (spotify_id {ID})",
    ),
    "a short id": (
        lambda songs: with_value(songs, "spotify_id", "abc"),
        "spotify_id must be 22 characters long: 1 row breaks it (spotify_id abc)",
    ),
    "a repeated id": (
        lambda songs: pd.concat([songs, songs.head(1)], ignore_index=True),
        f"spotify_id must be unique: 2 rows share a value (spotify_id {ID})",
    ),
    "a missing column": (
        lambda songs: songs.drop(columns=["tempo"]),
        "tempo is missing",
    ),
    "no rows": (
        lambda songs: songs.head(0),
        "the song properties need at least 1 row: they have 0",
    ),
    "event_timestamp as text": (
        lambda songs: songs.assign(event_timestamp="yesterday"),
        "event_timestamp must hold dates and times: it holds text",
    ),
}


@pytest.mark.parametrize("case", BROKEN)
def test_each_rule_refuses_in_one_sentence_naming_column_rule_and_example(songs, tmp_path, case):
    make, rule = BROKEN[case]
    assert check(make(songs), tmp_path) == f"The song properties break a rule of the data contract: {rule}."


def test_every_broken_rule_is_named_in_one_sentence(songs, tmp_path):
    broken = with_value(songs.drop(columns=["liveness"]), "tempo", 400.0).assign(key=99)
    refusal = check(broken, tmp_path)
    assert refusal.startswith("The song properties break 3 rules of the data contract: ")
    assert refusal.count(".") == 1 and refusal.endswith(".")
    for rule in ("liveness is missing", "key must be ≤ 11: 300 rows break it", "tempo must be ≤ 300: 1 row breaks it"):
        assert rule in refusal


def test_extra_columns_are_kept_and_optional_columns_may_be_absent(songs, tmp_path, capsys):
    assert "event_timestamp" not in songs.columns  # optional: the small file has none
    assert check(songs.assign(mood="calm"), tmp_path) == ""
    assert "The song properties keep the data contract: 300 rows" in capsys.readouterr().out


def test_the_shipped_data_keep_their_contracts(tmp_path):
    for file in ("song_properties.parquet", "small_song_properties.parquet", "fav_new_song_properties.parquet"):
        assert check(pd.read_parquet(DATA_PREP / file), tmp_path) == "", file
    assert check(pd.read_parquet(DATA_PREP / "song_rankings.parquet"), tmp_path, CHARTS) == ""


def test_the_training_data_contract_checks_song_and_country_pairs(prepared, tmp_path):
    joined = pd.read_parquet(prepared["dataset"].path)
    assert check(joined, tmp_path, TRAINING_DATA) == ""
    refusal = check(with_value(joined, "country", "Spain", row=3), tmp_path, TRAINING_DATA)
    assert "country must be a two-letter country code: 1 row breaks it" in refusal
    refusal = check(pd.concat([joined, joined.head(2)]), tmp_path, TRAINING_DATA)
    assert "spotify_id and country must be unique: 4 rows share a value" in refusal
    assert "need at least 1,000 rows: they have 10" in check(joined.head(10), tmp_path, TRAINING_DATA)


def test_the_features_live_with_the_contract_one_rule_each():
    assert FEATURES == list(data_contract.FEATURE_RULES)
    assert len(FEATURES) == 13 and FEATURES[5] == "loudness"
    for contract in (SONG_PROPERTIES, TRAINING_DATA):
        assert set(FEATURES) <= set(contract["columns"])


def compiled_contracts(pipeline_func, tmp_path) -> list[dict]:
    """The ``contract`` values the compiled YAML hands to the validation step(s)."""
    path = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(pipeline_func, str(path))
    spec = next(yaml.safe_load_all(path.read_text()))
    tasks = spec["root"]["dag"]["tasks"]
    return [
        task["inputs"]["parameters"]["contract"]["runtimeValue"]["constant"]
        for task in tasks.values()
        if task["componentRef"]["name"] == "comp-validate-data"
    ]


def load_pipeline(chapter: str, script: str, name: str):
    import importlib.util
    import sys

    sys.path.insert(0, str(REPO_ROOT / chapter))
    spec = importlib.util.spec_from_file_location(f"contract_check_{name}", REPO_ROOT / chapter / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


@pytest.mark.parametrize(
    ("chapter", "script", "name", "contract"),
    [
        ("3-prod_datascience", "prod_train_save_pipeline.py", "training_pipeline", TRAINING_DATA),
        ("5-data-versioning", "1-data_pipeline_url_to_s3.py", "data_pipeline_url_to_s3", SONG_PROPERTIES),
        ("5-data-versioning", "4-data_pipeline_with_dvc_versioning.py", "data_pipeline_with_dvc", SONG_PROPERTIES),
    ],
)
def test_the_compiled_pipelines_carry_the_contract_itself(tmp_path, chapter, script, name, contract):
    (carried,) = compiled_contracts(load_pipeline(chapter, script, name), tmp_path)
    assert carried == contract  # the pod checks exactly what data_contract.py defines: no copy to drift


def test_song_properties_may_be_a_history_with_one_row_per_song_and_moment(songs, tmp_path):
    stamped = songs.assign(event_timestamp=pd.Timestamp("2024-01-01", tz="UTC"))
    changed = stamped.head(1).assign(energy=0.5, event_timestamp=pd.Timestamp("2024-06-01", tz="UTC"))
    assert check(pd.concat([stamped, changed]), tmp_path) == "", "a song may have a row per change"
    twice = pd.concat([stamped, stamped.head(1)])
    assert "spotify_id and event_timestamp must be unique: 2 rows share a value" in check(twice, tmp_path)
    no_time = pd.concat([songs, songs.head(1)])
    assert "spotify_id must be unique" in check(no_time, tmp_path), "without a time, each song once"


def test_training_data_has_the_features_its_source_names(prepared, tmp_path):
    data = pd.read_parquet(prepared["dataset"].path).drop(columns=["loudness"])
    twelve = [feature for feature in FEATURES if feature != "loudness"]
    for named, refusal in ((twelve, ""), ({"list": twelve}, ""), (FEATURES, "loudness is missing")):
        dataset = make_artifact(dsl.Dataset, tmp_path, "training.parquet", {"features": named})
        data.to_parquet(dataset.path, index=False)
        try:
            validate_data.python_func(dataset=dataset, contract=TRAINING_DATA)
            said = ""
        except ValueError as error:
            said = str(error)
        assert (refusal in said) if refusal else said == "", said
