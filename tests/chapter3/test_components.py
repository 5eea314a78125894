"""Each chapter-3 step on small data, called as the pipeline would call it."""

import json
import pickle

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from evaluate_model import evaluate_model, validate_onnx_model
from fetch_data import fetch_data
from kfp import dsl
from pipelinetools import make_artifact

from jukebox.data_contract import FEATURES


def fetch(tmp_path, rankings_url, properties_url):
    dataset = make_artifact(dsl.Dataset, tmp_path, "dataset")
    fetch_data.func.python_func(
        rankings_url=rankings_url, properties_url=properties_url, features=FEATURES, dataset=dataset
    )
    return dataset


def test_fetch_joins_charts_and_properties_and_records_sources(prepared, small_data, small_data_url):
    dataset = prepared["dataset"]
    data = pd.read_parquet(dataset.path)
    assert not data.duplicated(["spotify_id", "country"]).any()
    assert set(FEATURES) <= set(data.columns)
    assert dataset.metadata["source"] == "url"
    assert dataset.metadata["rankings_url"] == f"{small_data_url}/song_rankings.parquet"
    import hashlib

    expected_md5 = hashlib.md5((small_data / "song_properties.parquet").read_bytes()).hexdigest()
    assert dataset.metadata["properties_md5"] == expected_md5
    assert dataset.metadata["features"] == FEATURES


@pytest.mark.parametrize(
    ("make_bad_file", "problem"),
    [
        (None, "HTTP 404"),
        (lambda path: path.write_text("spotify_id,country\n"), "are not a parquet file"),
        (lambda path: path.write_bytes(b""), "are an empty file"),
        (
            lambda path: (
                pd.read_parquet(path.parent / "song_properties.parquet").drop(columns="danceability").to_parquet(path)
            ),
            "lack the columns danceability",
        ),
        (
            lambda path: pd.read_parquet(path.parent / "song_properties.parquet").head(0).to_parquet(path),
            "have no rows",
        ),
    ],
    ids=["404", "not-parquet", "empty-file", "missing-columns", "no-rows"],
)
def test_fetch_fails_with_one_sentence_naming_the_url(tmp_path, small_data, small_data_url, make_bad_file, problem):
    bad = small_data / f"bad-{problem.split()[-1]}.parquet"
    if make_bad_file:
        make_bad_file(bad)
    bad_url = f"{small_data_url}/{bad.name}"
    with pytest.raises(RuntimeError) as error:
        fetch(tmp_path, f"{small_data_url}/song_rankings.parquet", bad_url)
    message = str(error.value)
    assert bad_url in message and problem in message
    assert message.count(". ") == 0 and message.endswith(".")
    assert not (tmp_path / "dataset").exists(), "nothing is written when the input is bad"


def test_fetch_names_an_unreachable_host(tmp_path, small_data_url):
    with pytest.raises(
        RuntimeError, match=r"Cannot download the song rankings from http://127\.0\.0\.1:9/x: ConnectionError"
    ):
        fetch(tmp_path, "http://127.0.0.1:9/x", f"{small_data_url}/song_properties.parquet")


def test_preprocessing_splits_scales_and_follows_the_dataset_features(prepared, tmp_path):
    from data_preprocessing import preprocess_data

    sizes = [prepared[name].metadata["rows"] for name in ("train_data", "val_data", "test_data")]
    total = sum(sizes)
    assert abs(sizes[0] / total - 0.7) < 0.01 and abs(sizes[2] / total - 0.15) < 0.01
    train = pd.read_parquet(prepared["train_data"].path)
    assert np.allclose(train[FEATURES].mean(), 0, atol=1e-6)
    assert prepared["train_data"].metadata["features"] == FEATURES

    twelve = [feature for feature in FEATURES if feature != "loudness"]
    # A plain list (the lab), or wrapped as the cluster's metadata store may hand it back.
    for named in (twelve, {"list": twelve}):
        dataset = make_artifact(dsl.Dataset, tmp_path, "dataset", {"features": named})
        pd.read_parquet(prepared["dataset"].path).to_parquet(dataset.path)
        outputs = {
            name: make_artifact(dsl.Dataset, tmp_path, name)
            for name in ("train_data", "val_data", "test_data", "scaler", "label_encoder")
        }
        preprocess_data.python_func(dataset=dataset, default_features=FEATURES, **outputs)
        assert outputs["train_data"].metadata["features"] == twelve
        assert "loudness" not in pd.read_parquet(outputs["train_data"].path).columns


def test_training_is_reproducible(prepared, tmp_path):
    from train_model import train_model

    again = make_artifact(dsl.Model, tmp_path, "model")
    train_model.python_func(
        train_data=prepared["train_data"],
        val_data=prepared["val_data"],
        hyperparameters={"hidden_layer_sizes": [32.0], "max_iter": 60.0, "random_state": 42.0},
        model=again,
    )
    test = pd.read_parquet(prepared["test_data"].path)[FEATURES].to_numpy()
    first = pickle.loads(open(prepared["model"].path, "rb").read())
    second = pickle.loads(open(again.path, "rb").read())
    np.testing.assert_array_equal(first.predict_proba(test), second.predict_proba(test))


def test_onnx_model_carries_features_and_countries(prepared):
    model = onnx.load(prepared["onnx_model"].path)
    properties = {prop.key: json.loads(prop.value) for prop in model.metadata_props}
    encoder = pickle.loads(open(prepared["label_encoder"].path, "rb").read())
    assert properties["features"] == FEATURES
    assert properties["classes"] == list(encoder.classes_)


def test_openvino_gives_the_probabilities_onnx_runtime_gives(prepared):
    """The workshop's predictor is OpenVINO Model Server: its runtime loads the model and agrees with ONNX Runtime.

    In FP32 it agrees within 1e-5. By default OpenVINO's CPU plugin computes in bfloat16 where the
    CPU can (this one can), as OVMS then does: the probabilities move by about 1e-3 and the
    answers keep their top country.
    """
    import openvino

    test = pd.read_parquet(prepared["test_data"].path)[FEATURES].to_numpy(dtype=np.float32)[:50]
    named = {name: test[:, [column]] for column, name in enumerate(FEATURES)}
    session = ort.InferenceSession(prepared["onnx_model"].path, providers=["CPUExecutionProvider"])
    expected = session.run(["probabilities"], named)[0]
    core = openvino.Core()
    exact = core.compile_model(prepared["onnx_model"].path, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    assert "probabilities" in exact.outputs[0].get_names(), "OVMS answers the first output first"
    np.testing.assert_allclose(exact(named)[exact.outputs[0]], expected, atol=1e-5)
    default = core.compile_model(prepared["onnx_model"].path, "CPU")
    answered = default(named)[default.outputs[0]]
    np.testing.assert_allclose(answered, expected, atol=2e-2)
    agree = (answered.argmax(axis=1) == expected.argmax(axis=1)).mean()
    assert agree >= 0.95, f"the top country agrees for {agree:.0%} of the songs"


def test_onnx_model_takes_one_named_fp32_input_per_feature(prepared):
    session = ort.InferenceSession(prepared["onnx_model"].path, providers=["CPUExecutionProvider"])
    assert [(item.name, item.type, item.shape[1]) for item in session.get_inputs()] == [
        (name, "tensor(float)", 1) for name in FEATURES
    ]
    assert [item.name for item in session.get_outputs()] == ["probabilities", "label"], "the workshop reads outputs[0]"
    test = pd.read_parquet(prepared["test_data"].path)[FEATURES].to_numpy(dtype=np.float32)[:20]
    named = {name: test[:, [column]] for column, name in enumerate(FEATURES)}
    classifier = pickle.loads(open(prepared["model"].path, "rb").read())
    np.testing.assert_allclose(
        session.run(["probabilities"], named)[0], classifier.predict_proba(test.astype(np.float64)), atol=1e-5
    )


def test_onnx_validation_passes_the_converted_model(prepared, capsys):
    validate_onnx_model.python_func(
        model=prepared["model"], onnx_model=prepared["onnx_model"], test_data=prepared["test_data"]
    )
    assert "ONNX model validated" in capsys.readouterr().out


def test_onnx_validation_fails_when_the_models_disagree(prepared, tmp_path):
    from train_model import train_model

    other = make_artifact(dsl.Model, tmp_path, "other", {"features": FEATURES})
    train_model.python_func(
        train_data=prepared["train_data"],
        val_data=prepared["val_data"],
        hyperparameters={"hidden_layer_sizes": [8.0], "max_iter": 5.0, "random_state": 1.0},
        model=other,
    )
    with pytest.raises(ValueError, match="ONNX Runtime and the trained model disagree"):
        validate_onnx_model.python_func(model=other, onnx_model=prepared["onnx_model"], test_data=prepared["test_data"])


def test_evaluation_logs_accuracy_and_a_confusion_matrix(prepared, tmp_path):
    metrics = make_artifact(dsl.Metrics, tmp_path, "metrics")
    matrix = make_artifact(dsl.ClassificationMetrics, tmp_path, "matrix")
    evaluate_model.python_func(
        model=prepared["model"],
        label_encoder=prepared["label_encoder"],
        test_data=prepared["test_data"],
        metrics=metrics,
        classification_metrics=matrix,
    )
    assert 0 < metrics.metadata["accuracy"] <= 1
    assert metrics.metadata["accuracy"] > metrics.metadata["majority_baseline"]
    confusion = matrix.metadata["confusionMatrix"]
    assert len(confusion["annotationSpecs"]) == len(confusion["rows"]) == 72
    assert sum(sum(row["row"]) for row in confusion["rows"]) == prepared["test_data"].metadata["rows"]


def test_a_feast_fetch_compiled_without_the_feature_repo_says_so(tmp_path, monkeypatch):
    from fetch_data import fetch_data_from_feast

    monkeypatch.delenv("FEAST_FS_YAML_FILE_PATH", raising=False)
    with pytest.raises(RuntimeError) as error:
        fetch_data_from_feast.func.python_func(
            feature_store_yaml="", rankings_url="http://127.0.0.1:9", dataset=make_artifact(dsl.Dataset, tmp_path, "d")
        )
    assert str(error.value) == (
        "The pipeline was compiled without 7-feature_store/feature_repo/feature_store.yaml: "
        "compile it in a clone of the whole jukebox repo."
    )
