"""Online prediction: the model server and the transformer, as real processes, on real parts.

A small model trained by the pipeline's own steps (fixture ``prepared``), registered in a SQLite
MLflow registry by the pipeline's own step, a Feast store (SQLite, as the lab's) built from the
kit's feature repo on the small song file; the predictor and the transformer started as the lab
and the cluster start them, on free ports of 127.0.0.1, and stopped at the end of their test.
Session fixtures are lazy caches that no test changes; a test that changes a registry alias or
the feature service has its own.
"""

import pickle
import threading

import httpx
import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from servingtools import (
    FEAST,
    USER,
    Registry,
    Server,
    clean_environment,
    environment,
    features_request,
    ids_request,
    leave_out_of_the_service,
    make_feature_repo,
    output,
    predictor_and_transformer,
    store_environment,
    wait_until,
)

from jukebox.data_contract import FEATURES

LIVE_FOREVER = "1D2SVYXZdtNfJCg8wZWvVz"  # not in the small song file, so not in the store
TWELVE = [feature for feature in FEATURES if feature != "loudness"]
EITHER = "The transformer takes one input named 'input' with the song ids, or one FP32 input per feature"


# ---- lazy caches: the parts, built once and never changed ----------------------------------------


@pytest.fixture(scope="session")
def songs(small_data) -> list[str]:
    """Three songs of the store."""
    return pd.read_parquet(small_data / "song_properties.parquet")["spotify_id"].iloc[[0, 1, 2]].tolist()


def version_folder(prepared: dict, folder, files: dict[str, str]):
    """``folder`` with the prepared model's artifacts copied in, each under its name in ``files``."""
    for name, artifact in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(open(prepared[artifact].path, "rb").read())
    return folder


@pytest.fixture(scope="session")
def model_folder(prepared, tmp_path_factory):
    """The layout the cluster's storage initializer gives: the three files in one folder."""
    files = {"model.onnx": "onnx_model", "scaler.pkl": "scaler", "label_encoder.pkl": "label_encoder"}
    return version_folder(prepared, tmp_path_factory.mktemp("models") / "v1", files)


@pytest.fixture(scope="session")
def model_car(prepared, tmp_path_factory):
    """What the workshop's model car mounts: a CT run's model volume copied to ``/mnt/models/1/``."""
    files = {"jukebox.onnx": "onnx_model", "artifacts/scaler.pkl": "scaler"}
    files["artifacts/label_encoder.pkl"] = "label_encoder"
    return version_folder(prepared, tmp_path_factory.mktemp("modelcar") / "1", files)


def one_input(**fields) -> dict:
    """A request by song id with some of its one input's fields changed (``None``: left out)."""
    item = {"name": "input", "shape": [1], "datatype": "STRING", "data": [LIVE_FOREVER], **fields}
    return {"inputs": [{key: value for key, value in item.items() if value is not None}]}


# ---- what the tests compute by hand ----------------------------------------------------------------


def by_hand(repo, artifacts: dict, ids: list[str]) -> tuple[np.ndarray, list[str]]:
    """Online features → the scaler → the ONNX model, in this process: the probabilities and the countries."""
    from feast import FeatureStore

    scaler = pickle.loads(open(artifacts["scaler"].path, "rb").read())
    features = list(scaler.feature_names_in_)
    with environment(**{"username": USER, "FEAST_FS_YAML_FILE_PATH": str(repo / "feature_store.yaml")}):
        store = FeatureStore(repo_path=str(repo))
        values = store.get_online_features(
            features=[f"song_properties:{name}" for name in features], entity_rows=[{"spotify_id": i} for i in ids]
        ).to_dict()
    scaled = scaler.transform(pd.DataFrame({name: values[name] for name in features}, dtype=float))
    session = ort.InferenceSession(artifacts["onnx_model"].path, providers=["CPUExecutionProvider"])
    named = {name: scaled[:, [column]].astype(np.float32) for column, name in enumerate(features)}
    countries = [str(c) for c in pickle.loads(open(artifacts["label_encoder"].path, "rb").read()).classes_]
    return session.run(["probabilities"], named)[0], countries


def assert_answers(answer: dict, expected: tuple[np.ndarray, list[str]], version: str) -> None:
    probabilities, countries = expected
    assert answer["model_version"] == version
    np.testing.assert_allclose(
        np.array(output(answer, "probabilities")).reshape(probabilities.shape), probabilities, atol=1e-5
    )
    assert output(answer, "country_codes") == countries
    assert [item["name"] for item in answer["outputs"]] == ["probabilities", "country_codes", "label"]


# ---- the predictor ---------------------------------------------------------------------------------


def test_the_predictor_answers_as_the_trained_model_for_named_inputs(servers, prepared):
    model_server, _ = servers
    test = pd.read_parquet(prepared["test_data"].path)[FEATURES].iloc[:5]
    status, answer = model_server.infer(features_request({name: test[name] for name in FEATURES}))
    assert status == 200, answer
    classifier = pickle.loads(open(prepared["model"].path, "rb").read())
    expected = classifier.predict_proba(test.to_numpy())
    (probabilities,) = [item for item in answer["outputs"] if item["name"] == "probabilities"]
    assert probabilities["shape"] == [5, expected.shape[1]] and probabilities["datatype"] == "FP32"
    np.testing.assert_allclose(np.array(probabilities["data"]).reshape(expected.shape), expected, atol=1e-5)
    assert output(answer, "label") == classifier.predict(test.to_numpy()).tolist()
    assert answer["model_version"] == "1"


def test_the_predictor_describes_the_served_version(servers):
    model_server, _ = servers
    metadata = model_server.client.get("/v2/models/jukebox").json()
    assert metadata["versions"] == ["1"]
    assert metadata["inputs"] == [{"name": name, "datatype": "FP32", "shape": [-1, 1]} for name in FEATURES]
    assert [item["name"] for item in metadata["outputs"]] == ["probabilities", "label"]


def test_both_servers_listen_on_127_0_0_1_only(servers):
    import psutil

    model_server, front = servers
    for server in (model_server, front):
        addresses = {
            c.laddr for c in psutil.Process(server.process.pid).connections(kind="inet") if c.status == "LISTEN"
        }
        assert addresses == {("127.0.0.1", server.port)}, addresses


@pytest.mark.parametrize(
    "change, says",
    [
        (lambda r: r["inputs"].pop(5), "Missing input loudness: version 1 takes one FP32 input per feature"),
        (lambda r: r["inputs"][0].update(name="explicit"), "Unknown input explicit: version 1 takes"),
        (
            lambda r: r["inputs"][2].update(datatype="INT64"),
            "Input danceability has datatype INT64: every input is FP32",
        ),
        (lambda r: r["inputs"][3].update(shape=[1, 2]), "Input energy has shape [1, 2]: each input is [N] or [N, 1]"),
        (lambda r: r["inputs"][3].update(data=[["high"]]), "Input energy holds values that are not numbers"),
        (lambda r: r["inputs"][4].update(data=[[float("nan")]]), "Input key holds a value that is not a finite number"),
        (lambda r: r["inputs"][6].update(data=[[1e39]]), "Input mode holds a value that is not a finite number"),
        (
            lambda r: r.update(parameters={"model_version": "99"}),
            "There is no version 99 of jukebox in the MLflow registry",
        ),
        (lambda r: r["inputs"][0].update(shape=[2, 1]), "Input is_explicit has 1 values, but its shape [2, 1] says 2"),
    ],
)
def test_the_predictor_refuses_what_does_not_fit_in_one_sentence_and_stays_up(servers, change, says):
    model_server, _ = servers
    request = features_request({name: [0.5] for name in FEATURES})
    change(request)
    status, answer = model_server.infer(request)
    assert (status, answer["error"][: len(says)]) == (404 if "no version" in says else 400, says)
    assert "\n" not in answer["error"]
    assert model_server.infer(features_request({name: [0.5] for name in FEATURES}))[0] == 200, "it keeps serving"


# ---- the transformer -------------------------------------------------------------------------------


def test_the_transformer_answers_by_song_id_as_computed_by_hand(servers, feature_repo, prepared, songs):
    _, front = servers
    status, answer = front.infer(ids_request(songs[0]))
    assert status == 200, answer
    assert_answers(answer, by_hand(feature_repo, prepared, songs[:1]), version="1")
    (codes,) = [item for item in answer["outputs"] if item["name"] == "country_codes"]
    assert codes["datatype"] == "BYTES" and codes["shape"] == [len(codes["data"])]


def the_workshops_transformer(repo, artifacts: dict, ids: list[str]) -> tuple[np.ndarray, list[str]]:
    """The workshop's transformer, step by step (workshop-contract.md §2), on the kit's model files.

    The feature service's online features as a table → the columns ``scaler.feature_names_in_`` →
    ``scaler.transform`` → one FP32 [N, 1] input per feature, named by it → the model's **first**
    output → ``country_codes`` = ``label_encoder.classes_``.
    """
    from feast import FeatureStore

    scaler = pickle.loads(open(artifacts["scaler"].path, "rb").read())
    encoder = pickle.loads(open(artifacts["label_encoder"].path, "rb").read())
    with environment(**{"username": USER, "FEAST_FS_YAML_FILE_PATH": str(repo / "feature_store.yaml")}):
        store = FeatureStore(repo_path=str(repo))
        online = store.get_online_features(
            features=store.get_feature_service("serving_fs"), entity_rows=[{"spotify_id": i} for i in ids]
        ).to_dict()
    table = pd.DataFrame(online)[list(scaler.feature_names_in_)]
    scaled = scaler.transform(table)
    inputs = {name: scaled[:, [column]].astype(np.float32) for column, name in enumerate(scaler.feature_names_in_)}
    session = ort.InferenceSession(artifacts["onnx_model"].path, providers=["CPUExecutionProvider"])
    return session.run(None, inputs)[0], [str(code) for code in encoder.classes_]


def test_the_workshops_transformer_and_ui_read_the_kits_model_and_answer_alike(servers, feature_repo, prepared, songs):
    _, front = servers
    status, answer = front.infer(ids_request(songs[0]))
    assert status == 200, answer
    probabilities, countries = answer["outputs"][0]["data"], answer["outputs"][1]["data"]  # as the Jukebox UI reads
    workshop, workshop_countries = the_workshops_transformer(feature_repo, prepared, songs[:1])
    assert countries == workshop_countries and len(probabilities) == len(countries)
    np.testing.assert_allclose(probabilities, workshop[0], atol=1e-5)
    top = [code for _, code in sorted(zip(probabilities, countries, strict=True), reverse=True)[:10]]
    assert top == [countries[index] for index in np.argsort(-workshop[0], kind="stable")[:10]]


def test_the_transformer_answers_several_songs_one_row_each(servers, feature_repo, prepared, songs):
    _, front = servers
    expected = by_hand(feature_repo, prepared, songs)
    for request in (ids_request(*songs), ids_request(*songs, nested=False)):
        status, answer = front.infer(request)
        assert status == 200, answer
        assert_answers(answer, expected, version="1")


def raw_properties(repo, song: str) -> dict[str, list[float]]:
    """A song's raw properties, as the store's parquet holds them (its latest row): one list per feature."""
    table = pd.read_parquet(repo.parent / "song_properties.parquet").sort_values("event_timestamp")
    row = table[table["spotify_id"] == song].iloc[-1]
    return {name: [float(row[name])] for name in FEATURES}


def test_the_transformer_scales_a_songs_raw_properties_as_it_scales_the_stores(servers, feature_repo, prepared, songs):
    _, front = servers
    status, answer = front.infer(features_request(raw_properties(feature_repo, songs[0])))
    assert status == 200, answer
    assert_answers(answer, by_hand(feature_repo, prepared, songs[:1]), version="1")
    louder = {**raw_properties(feature_repo, songs[0]), "loudness": [-1.0]}
    assert output(front.infer(features_request(louder))[1], "probabilities") != output(answer, "probabilities")


def test_the_transformers_metadata_lists_the_song_ids_and_the_served_versions_features(servers):
    _, front = servers
    metadata = front.client.get("/v2/models/jukebox").json()
    assert metadata["versions"] == ["1"]
    assert metadata["inputs"] == [
        {"name": "input", "datatype": "BYTES", "shape": [-1, 1]},
        *({"name": name, "datatype": "FP32", "shape": [-1, 1]} for name in FEATURES),
    ]


def test_raw_properties_that_do_not_fit_the_served_version_are_refused_in_one_sentence(servers, feature_repo, songs):
    _, front = servers
    twelve = {name: values for name, values in raw_properties(feature_repo, songs[0]).items() if name != "loudness"}
    status, answer = front.infer(features_request(twelve))
    assert (status, answer["error"]) == (
        400,
        f"Missing input loudness: version 1 takes one FP32 input per feature: {', '.join(FEATURES)}.",
    )
    status, answer = front.infer(features_request({"volume": [0.5]}))
    assert (status, answer["error"]) == (400, f"{EITHER} of version 1 ({', '.join(FEATURES)}), not ['volume'].")


def test_an_unknown_song_is_a_404_that_names_it(servers, songs):
    _, front = servers
    status, answer = front.infer(ids_request(LIVE_FOREVER))
    assert (status, answer["error"]) == (
        404,
        f"No song {LIVE_FOREVER} in the feature store (project user1_music): "
        "run the data pipeline that materializes it.",
    )
    status, answer = front.infer(ids_request(songs[0], LIVE_FOREVER, "0" * 22))
    assert status == 404 and f"No songs {LIVE_FOREVER}, {'0' * 22} in the feature store" in answer["error"]
    assert front.infer(ids_request(songs[0]))[0] == 200, "it keeps serving"


@pytest.mark.parametrize(
    "request_body, says",
    [
        ("this is not json", "The request body is not valid JSON."),
        ({}, "The request has no 'inputs'"),
        ({"inputs": "1D2SVYXZdtNfJCg8wZWvVz"}, "The request's 'inputs' is wrong"),
        ({"inputs": []}, f"{EITHER} of version 1 ({', '.join(FEATURES)}), not []."),
        (one_input(name="song"), f"{EITHER} of version 1 ({', '.join(FEATURES)}), not ['song']."),
        (one_input(datatype="FP32", data=[1.0]), "Input 'input' has datatype FP32: song ids are STRING (or BYTES)"),
        (one_input(shape=[0], data=[]), "The request has no song id"),
        (one_input(data=[42]), "42 is not a Spotify song id (22 letters and digits)."),
        (one_input(data=[["1D2SVYXZ/../../etc/passwd"]]), "'1D2SVYXZ/../../etc/passwd' is not a Spotify song id"),
        (one_input(data=None), "The request has no 'inputs[0].data'"),
        (one_input(data=[LIVE_FOREVER] * 1001, shape=[1001]), "The request has 1001 song ids: at most 1000"),
    ],
)
def test_the_transformer_refuses_malformed_requests_in_one_sentence_and_stays_up(servers, songs, request_body, says):
    _, front = servers
    status, answer = front.infer(request_body)
    assert status == 400 and answer["error"].startswith(says), answer
    assert "\n" not in answer["error"]
    assert front.infer(ids_request(songs[0]))[0] == 200, "it keeps serving"


def test_the_logs_are_quiet(servers, songs):
    model_server, front = servers
    for _ in range(20):
        front.infer(ids_request(songs[0]))
    for server in (model_server, front):
        assert server.count(r"^.*Loaded version 1 of the model") == 1
        assert server.count(r"Serving version 1 of the model") == 1
        assert server.count(r"POST /v2/models") == 0, "no access log by default"
        assert server.count(r"Traceback") == 0, server.output()


@pytest.mark.slow
def test_an_unreachable_predictor_is_a_503_in_one_sentence(feature_repo, model_folder, songs, tmp_path):
    nowhere = Server([], {}, tmp_path / "unused").port  # a free port with nothing behind it
    env = store_environment(feature_repo)
    arguments = ["--predictor_host", f"127.0.0.1:{nowhere}", "--model_dir", str(model_folder)]
    with Server.serving("transformer", arguments, env, tmp_path / "transformer.log") as front:
        front.ready()
        status, answer = front.infer(ids_request(songs[0]))
        assert (status, answer["error"]) == (
            503,
            f"The predictor at 127.0.0.1:{nowhere} does not answer: is it running?",
        )
        assert front.process.poll() is None


# ---- the cluster's way: files in a folder, a Feast feature server -----------------------------------


@pytest.mark.slow
def test_the_transformer_reads_through_a_feast_feature_server(feature_repo, model_folder, prepared, songs, tmp_path):
    serve = [FEAST, "--chdir", str(feature_repo), "serve", "--host", "127.0.0.1", "--no-access-log"]
    feature_server = Server(serve, store_environment(feature_repo), tmp_path / "feast.log", "--port")
    folder = ["--model_dir", str(model_folder), "--model_version", "v1"]
    with feature_server, Server.serving("predictor", folder, clean_environment(), tmp_path / "p.log") as model_server:
        feature_server.wait_for("/health")
        arguments = [
            "--predictor_host",
            f"127.0.0.1:{model_server.port}",
            "--feature_server_url",
            feature_server.url,
            "--feature_service",
            "serving_fs",
            "--entity_id_name",
            "spotify_id",
            "--model_dir",
            str(model_folder),
            "--model_version",
            "v1",
        ]
        with Server.serving("transformer", arguments, clean_environment(), tmp_path / "t.log") as front:
            model_server.ready(), front.ready()
            status, answer = front.infer(ids_request(*songs))
            assert status == 200, answer
            assert_answers(answer, by_hand(feature_repo, prepared, songs), version="v1")
            status, answer = front.infer(ids_request(LIVE_FOREVER))
            assert status == 404 and answer["error"].startswith(
                f"No song {LIVE_FOREVER} in the feature store (feature server"
            )
    assert "Unclosed" not in front.output(), "the transformer closes its connections when it stops"


@pytest.mark.slow
def test_the_model_cars_layout_is_served_as_the_workshops_deployment_mounts_it(
    feature_repo, model_car, prepared, songs, tmp_path
):
    folder = ["--model_dir", str(model_car), "--model_version", "3d409d9"]
    with Server.serving("predictor", folder, clean_environment(), tmp_path / "p.log") as model_server:
        arguments = ["--predictor_host", f"127.0.0.1:{model_server.port}", *folder]
        with Server.serving("transformer", arguments, store_environment(feature_repo), tmp_path / "t.log") as front:
            model_server.ready(), front.ready()
            status, answer = front.infer(ids_request(*songs))
            assert status == 200, answer
            assert_answers(answer, by_hand(feature_repo, prepared, songs), version="3d409d9")


def test_a_folder_without_a_model_says_which_files_it_looks_for(tmp_path):
    from jukebox.serving.errors import NotFound
    from jukebox.serving.served_model import FolderSource

    source = FolderSource(tmp_path / "1", "3d409d9")
    assert source.current_version() is None
    assert source.waiting_for() == f"{tmp_path / '1' / 'model.onnx'} or {tmp_path / '1' / 'jukebox.onnx'} to exist"
    with pytest.raises(NotFound, match=r"^No model in .*: it holds neither model.onnx nor jukebox.onnx\.$"):
        source.load("3d409d9")


# ---- versions change: a new model, a feature left out, a server started before any model -----------


@pytest.mark.slow
def test_a_new_version_takes_over_with_no_failed_request(prepared, twelve, feature_repo, songs, tmp_path):
    registry = Registry(tmp_path / "registry")
    registry.set_alias(registry.register(prepared))
    answers, stop = [], threading.Event()

    def client(url: str) -> None:  # a user of the web page, asking again and again
        with httpx.Client(base_url=url, timeout=60) as http:
            while not stop.is_set():
                answer = http.post("/v2/models/jukebox/infer", json=ids_request(songs[0]))
                answers.append((answer.status_code, answer.json()))

    with predictor_and_transformer(registry, feature_repo, tmp_path) as (model_server, front):
        model_server.ready(), front.ready()
        thread = threading.Thread(target=client, args=(front.url,))
        thread.start()
        try:
            wait_until(lambda: len(answers) >= 5, "answers from version 1")
            registry.set_alias(registry.register(twelve))  # what CT does when it deploys a new model
            wait_until(lambda: answers[-1][1].get("model_version") == "2", "an answer from version 2")
            switched = len(answers)
            wait_until(lambda: len(answers) >= switched + 20, "more answers from version 2")
        finally:
            stop.set()
            thread.join()
        metadata = model_server.client.get("/v2/models/jukebox").json()
    failed = [answer for status, answer in answers if status != 200]
    assert not failed, f"{len(failed)} of {len(answers)} requests failed during the switch: {failed[:3]}"
    versions = [answer["model_version"] for _, answer in answers]
    assert versions == sorted(versions) and set(versions) == {"1", "2"}, "version 1, then version 2 only"
    assert_answers(answers[0][1], by_hand(feature_repo, prepared, songs[:1]), version="1")
    assert_answers(answers[-1][1], by_hand(feature_repo, twelve, songs[:1]), version="2")
    assert metadata["versions"] == ["2"] and [item["name"] for item in metadata["inputs"]] == TWELVE
    for server in (model_server, front):
        assert server.count(r"Loaded version 1 of the model") == 1, server.output()
        assert server.count(r"Loaded version 2 of the model") == 1, server.output()
        assert server.count(r"Serving version 2 of the model \(was 1\)") == 1, server.output()


@pytest.mark.slow
def test_leaving_loudness_out_of_the_service_does_not_break_the_served_model(
    feature_repo, model_folder, prepared, songs, tmp_path
):
    repo = make_feature_repo(tmp_path / "store", feature_repo.parent / "song_properties.parquet")
    folder = ["--model_dir", str(model_folder)]
    expected = by_hand(repo, prepared, songs)
    with Server.serving("predictor", folder, clean_environment(), tmp_path / "p.log") as model_server:
        front_args = ["--predictor_host", f"127.0.0.1:{model_server.port}", *folder]
        with Server.serving("transformer", front_args, store_environment(repo), tmp_path / "t1.log") as front:
            model_server.ready(), front.ready()
            assert_answers(front.infer(ids_request(*songs))[1], expected, version="v1")
            leave_out_of_the_service(repo, "loudness")  # `feast apply` in CT, before the new model is out
            assert "loudness" not in served_features(repo), "the window is open: the service serves 12 features"
            status, answer = front.infer(ids_request(*songs))
            assert status == 200, answer
            assert_answers(answer, expected, version="v1")
            # A transformer (re)started in the window reads the 13 features the served model needs, too.
            with Server.serving("transformer", front_args, store_environment(repo), tmp_path / "t2.log") as again:
                status, answer = again.ready().infer(ids_request(*songs))
                assert status == 200, answer
                assert_answers(answer, expected, version="v1")


def served_features(repo) -> list[str]:
    from feast import FeatureStore

    with environment(**{"username": USER, "FEAST_FS_YAML_FILE_PATH": str(repo / "feature_store.yaml")}):
        service = FeatureStore(repo_path=str(repo)).get_feature_service("serving_fs", allow_cache=False)
    return [field.name for view in service.feature_view_projections for field in view.features]


@pytest.mark.slow
def test_servers_started_before_any_model_become_ready_when_ct_deploys_one(prepared, feature_repo, songs, tmp_path):
    registry = Registry(tmp_path / "registry")  # no model registered yet
    with predictor_and_transformer(registry, feature_repo, tmp_path) as (model_server, front):
        for server in (model_server, front):
            server.wait_for("/v2/health/live")
            wait_until(lambda s=server: "Not ready: waiting for" in s.output(), "the server to say it waits")
            assert server.client.get("/v2/health/ready").status_code == 503
            assert server.client.get("/v2/models/jukebox/ready").status_code == 503
        status, answer = front.infer(ids_request(songs[0]))
        assert (status, answer["error"]) == (503, "Model with name jukebox is not ready.")
        registry.set_alias(registry.register(prepared))  # CT deploys its first model
        model_server.ready(), front.ready()
        status, answer = front.infer(ids_request(songs[0]))
        assert status == 200, answer
        assert_answers(answer, by_hand(feature_repo, prepared, songs[:1]), version="1")
        for server in (model_server, front):
            assert server.count("Not ready: waiting for a version of jukebox with the alias test.") == 1
