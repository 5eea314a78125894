"""The Jukebox page (scenario B's web page), in headless Chromium: find a song, see where it will chart.

The song catalog is real: the lab's S3 (SeaweedFS), as a participant of this module's own, holding
parquets built from ``99-data_prep``. The model side is a small but real Open Inference Protocol v2
server: kserve's own REST server with a tiny model ``jukebox`` that answers from a fixed table of
song ids (404 with the transformer's sentence for any other song). It is this file run as a
script. The real transformer (a song id turned into features by the feature service, then the
model) is driven by the scenario B end-to-end test. The "what if" mode's tests drive the real
predictor and transformer on a small model (``served``): the page's raw values go through the
transformer's one scaler, and a new version (``loudness`` left out) redraws the sliders.
"""

import contextlib
import functools
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jukebox.data_contract import FEATURES
from jukebox.paths import DATA_PREP, REPO_ROOT
from jukebox.rankings import COUNTRIES

MODEL = "jukebox"
MODEL_VERSION = "3"
LIVE_FOREVER = "1D2SVYXZdtNfJCg8wZWvVz"
GIMME = "3vkQ5DAB1qQMYO4Mr9zJN6"  # Gimme! Gimme! Gimme! (A Man After Midnight), ABBA
BILLIE = "6wf7Yu7cxBSPrRlWeSeK0Q"  # What Was I Made For?, Billie Eilish
SCORED = (GIMME, BILLIE)  # the songs the model double knows (Live Forever is not in its "feature store")
CODES = sorted(COUNTRIES)  # the label encoder's classes: the country codes in alphabetical order
STARTUP = 90  # seconds a server may take to answer its first call on a busy machine
SCREENS = {"laptop": (1280, 900), "phone": (390, 844)}  # the sizes the page must fit, in CSS pixels
SCREENSHOTS = REPO_ROOT / "reports" / "screenshots"  # kept with the instructors' report


def not_in_store(song_id: str) -> str:
    return f"No song {song_id} in the feature store (project user1_music): run the data pipeline that materializes it."


def probabilities(song_id: str) -> list[float]:
    """The double's fixed answer for a song: one probability per country of ``CODES``, summing to 1."""
    rng = np.random.default_rng(zlib.crc32(song_id.encode()))
    return [float(value) for value in rng.dirichlet(np.full(len(CODES), 0.3)).astype(np.float32)]


# ---- the model double: this file run as a script ----------------------------------------------


def serve_model_double(port: int, mode: str) -> None:
    """A kserve v2 server on 127.0.0.1:``port`` with model ``jukebox`` ready, not ready, or absent (``mode``)."""
    import kserve
    from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
    from kserve.errors import ModelNotFound
    from kserve.protocol.infer_type import InferOutput, InferResponse
    from kserve.protocol.rest.server import RESTServer

    class SongNotInStore(ModelNotFound):  # kserve answers its ModelNotFound with a 404 and the sentence
        def __init__(self, song_id: str):
            self.reason = not_in_store(song_id)

    class FixedTable(kserve.Model):
        def __init__(self, ready: bool):
            super().__init__(MODEL)
            self.ready = ready

        def load(self) -> bool:
            return self.ready

        async def predict(self, payload, headers=None, response_headers=None) -> InferResponse:
            song_id = str(np.asarray(payload.inputs[0].data).ravel()[0])
            if song_id not in SCORED:
                raise SongNotInStore(song_id)
            outputs = [
                InferOutput("probabilities", [1, len(CODES)], "FP32", probabilities(song_id)),
                InferOutput("country_codes", [len(CODES)], "BYTES", CODES),
            ]
            return InferResponse(payload.id or "answer", MODEL, outputs, model_version=MODEL_VERSION)

    server = kserve.ModelServer(http_port=port, enable_grpc=False)
    if mode != "no-model":
        server.register_model(FixedTable(ready=mode == "ready"))
    rest = RESTServer(FASTAPI_APP_IMPORT_STRING, server.dataplane, server.model_repository_extension, port)
    rest.config.host = "127.0.0.1"  # kserve's REST server listens on 0.0.0.0; the lab's rule is 127.0.0.1
    rest.run()


if __name__ == "__main__":
    serve_model_double(int(sys.argv[1]), sys.argv[2])
    sys.exit()


# ---- helpers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(url: str, body: dict | None = None) -> tuple[int, bytes, dict]:
    """Status, body and headers of a GET (or a POST of ``body`` as JSON), whatever the status."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as answer:
            return answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def call(url: str, body: dict | None = None) -> tuple[int, dict]:
    """Status and JSON body of a GET (or a POST of ``body``), whatever the status."""
    status, content, _ = fetch(url, body)
    return status, json.loads(content)


def wait_until_answering(url: str, process: subprocess.Popen, log: Path) -> None:
    """Wait for ``url`` to answer at all (any HTTP status), failing at once if ``process`` ended."""
    deadline = time.monotonic() + STARTUP
    while True:
        try:
            fetch(url)
            return
        except (urllib.error.URLError, ConnectionError):
            assert process.poll() is None, f"The server ended before answering:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"The server did not answer {url} in {STARTUP} s:\n{log.read_text()}"
            time.sleep(0.2)  # polling a starting server: there is no state to wait on before it listens


@contextlib.contextmanager
def running(command: list[str], url: str, log: Path, env: dict[str, str] | None = None):
    """``command`` started as a server answering at ``url``, stopped (and waited for) at the end."""
    with log.open("a") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_until_answering(url, process, log)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def model_double(port: int, log: Path, mode: str = "ready"):
    command = [sys.executable, __file__, str(port), mode]
    return running(command, f"http://127.0.0.1:{port}/v2/health/live", log)


def page_server(port: int, model_port: int, log: Path, env: dict[str, str]):
    command = [sys.executable, "-m", "jukebox.serving.jukebox_ui", "--port", str(port)]
    command += ["--model_url", f"http://127.0.0.1:{model_port}"]
    return running(command, f"http://127.0.0.1:{port}/health", log, env)


@functools.cache
def songs() -> pd.DataFrame:
    return pd.read_parquet(DATA_PREP / "song_properties.parquet")


def with_live_forever(*stamps: str) -> pd.DataFrame:
    """The songs plus Live Forever, stamped as the materializing pipeline does (one row per stamp)."""
    new = pd.read_parquet(DATA_PREP / "fav_new_song_properties.parquet")
    rows = [new.assign(event_timestamp=pd.Timestamp(stamp), energy=0.78 + 0.01 * n) for n, stamp in enumerate(stamps)]
    return pd.concat([songs(), *rows], ignore_index=True)


def put_catalog(participant, table: pd.DataFrame) -> None:
    """``table`` as the participant's ``s3://data/song_properties.parquet`` (bucket made if missing)."""
    s3 = participant.s3()
    if "data" not in {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="song_properties.parquet", Body=table.to_parquet(index=False))


def remove_catalog(participant) -> None:
    s3 = participant.s3()
    if "data" in {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}:
        for item in s3.list_objects_v2(Bucket="data").get("Contents", []):
            s3.delete_object(Bucket="data", Key=item["Key"])
        s3.delete_bucket(Bucket="data")


# ---- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def participant(shared_lab):
    """A participant of the session's lab for this module alone: their S3 holds only what these tests put."""
    from labtools import Participant

    return Participant(shared_lab, shared_lab.add_participant("jukebox_ui"))


@pytest.fixture
def catalog(participant):
    """The participant's catalog: the 14,245 songs of 99-data_prep, without Live Forever."""
    put_catalog(participant, songs())
    return participant


class Jukebox:
    """One test's page server and model double, on free ports: ``page_server()`` and ``model()`` start them."""

    def __init__(self, participant, folder: Path):
        self.participant, self.folder = participant, folder
        self.port, self.model_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.model_url = f"http://127.0.0.1:{self.model_port}"
        self.log = folder / "page-server.log"

    def model(self, mode: str = "ready"):
        return model_double(self.model_port, self.folder / f"model-{mode}.log", mode)

    def page_server(self, env: dict[str, str] | None = None, model_port: int | None = None):
        """The page server, in front of the model double (or of the server on ``model_port``)."""
        model_port = model_port or self.model_port
        return page_server(self.port, model_port, self.log, env or self.participant.variables())


@pytest.fixture
def jukebox(participant, tmp_path) -> Jukebox:
    return Jukebox(participant, tmp_path)


@contextlib.contextmanager
def real_servers(registry, feature_repo, folder: Path):
    """The kit's predictor and transformer on the registry's version ``test``; yields the transformer."""
    from servingtools import predictor_and_transformer

    with predictor_and_transformer(registry, feature_repo, folder) as (model_server, front):
        model_server.ready(), front.ready()
        yield front


@pytest.fixture
def served(servers):
    """The real transformer (and predictor) serving a small model of 13 features, version 1 (conftest.py)."""
    return servers[1]


@contextlib.contextmanager
def opened(url: str, size: tuple[int, int] = (1400, 900)):
    from browsertools import browser_page

    with browser_page(*size) as page:
        page.goto(url)
        yield page


def search(page, text: str, state: str) -> None:
    """Type ``text`` in the search box and wait for the search of ``text`` to reach ``state``."""
    page.fill("#query", text)
    page.wait_for_selector(f"#search[data-state={json.dumps(state)}][data-query={json.dumps(text)}]")


def descending(probability_and_code: tuple[float, str]) -> tuple[float, str]:
    """Most likely first; equal probabilities in the codes' order (the page's sort is stable)."""
    probability, code = probability_and_code
    return -probability, code


def result_names(page) -> list[str]:
    return page.locator("#results .song-name").all_inner_texts()


def prediction_state(page, state: str) -> None:
    page.wait_for_selector(f'#prediction[data-state="{state}"]', timeout=60_000)


def what_if(page) -> None:
    """Switch to the "what if" mode and wait for the model's first answer to its sliders."""
    page.click("#mode-whatif")
    page.wait_for_selector('#whatif-mode[data-state="answered"]', timeout=60_000)
    prediction_state(page, "result")


def slider_names(page) -> list[str]:
    return page.locator("#controls .control").evaluate_all("rows => rows.map(row => row.dataset.feature)")


def table(page) -> list[list[str]]:
    return [row.split("\t") for row in page.locator("#countries tbody tr").all_inner_texts()]


def answered_for(page, feature: str, value: float) -> None:
    """Wait until the answer shown is the one for ``feature`` at ``value``, with nothing left to ask."""
    page.wait_for_function(
        """([feature, value]) => {
            const mode = document.querySelector("#whatif-mode");
            return mode.dataset.state === "answered" && JSON.parse(mode.dataset.answered)[feature] === value;
        }""",
        arg=[feature, value],
        timeout=60_000,
    )


def assert_on_screen(page, width: int, height: int) -> None:
    """The probability column is inside its box and the screen, and nothing is wider than the screen."""
    page.locator("#countries").scroll_into_view_if_needed()
    box = page.locator(".table-box").bounding_box()
    for cell in ("#countries thead th:nth-child(3)", "#countries tbody tr:first-child td:nth-child(3)"):
        seen = page.locator(cell).bounding_box()
        assert box["x"] - 1 <= seen["x"] and seen["x"] + seen["width"] <= box["x"] + box["width"] + 1, (
            f"At {width}×{height} {cell} is cut off: {seen} outside its box {box}."
        )
        assert seen["x"] + seen["width"] <= width, f"At {width}×{height} {cell} is off the screen: {seen}."
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.querySelector('.table-box').scrollWidth,"
        " document.querySelector('.table-box').clientWidth]"
    )
    assert widths[0] <= width and widths[1] <= widths[2], f"At {width}×{height} something overflows: {widths}"
    assert page.inner_text("#countries thead th:nth-child(3)") == "Probability (%)"


# ---- tests ----------------------------------------------------------------------------------------


def test_the_page_finds_songs_by_name_by_artist_and_by_id(catalog, jukebox):
    with jukebox.page_server(), opened(jukebox.url) as page:
        search(page, "gimme! gimme", "results")
        assert result_names(page) == ["Gimme! Gimme! Gimme! (A Man After Midnight)"]
        search(page, "billie eilish", "results")
        assert all("Billie Eilish" in artists for artists in page.locator("#results .song-artists").all_inner_texts())
        assert 'What Was I Made For? [From The Motion Picture "Barbie"]' in result_names(page)
        search(page, GIMME, "results")
        assert page.locator("#results .song").first.get_attribute("data-id") == GIMME
        search(page, "no song is called this", "no-match")
        assert page.locator("#results li").count() == 0


def test_a_song_added_to_the_catalog_later_is_found_by_name_without_a_restart(catalog, jukebox):
    with jukebox.page_server() as server, opened(jukebox.url) as page:
        search(page, "Live Forever", "no-match")
        put_catalog(catalog, with_live_forever("2026-11-23 10:00:00"))
        deadline = time.monotonic() + 30  # the page server looks at the object's ETag every ~2 s
        while "Live Forever" not in result_names(page):
            assert time.monotonic() < deadline, "Live Forever, added to the catalog, was not found by name."
            page.wait_for_timeout(500)  # the interval of this poll, not a synchronisation: each search is awaited
            page.press("#query", "Enter")  # search again: the state is "searching" until the answer is shown
            page.wait_for_selector('#search[data-state="searching"]', state="detached")
        assert page.locator("#results .song-artists").first.inner_text() == "Oasis"
        assert server.poll() is None


def test_a_song_with_a_history_is_listed_once_from_its_latest_row(catalog, jukebox):
    history = with_live_forever("2026-11-23 10:00:00", "2026-11-20 10:00:00")  # the latest row is not the last
    history.loc[history.index[-1], "name"] = "Live Forever (an earlier tag)"
    put_catalog(catalog, history)
    with jukebox.page_server():
        status, answer = call(f"{jukebox.url}/api/songs?q=live%20forever")
    assert status == 200
    assert [song for song in answer["songs"] if song["spotify_id"] == LIVE_FOREVER] == [
        {"spotify_id": LIVE_FOREVER, "name": "Live Forever", "artists": "Oasis"}
    ]


def test_a_catalog_file_that_is_not_parquet_gets_a_note_and_the_songs_stay(catalog, jukebox):
    with jukebox.page_server():
        found = call(f"{jukebox.url}/api/songs?q=abba")
        catalog.s3().put_object(Bucket="data", Key="song_properties.parquet", Body=b"spotify_id,name\n")
        deadline = time.monotonic() + 30  # the page server looks at the object's ETag every ~2 s
        while "note" not in (answer := call(f"{jukebox.url}/api/songs?q=abba")[1]):
            assert time.monotonic() < deadline, "A broken catalog file got no note."
            time.sleep(0.5)
    assert answer["note"] == "s3://data/song_properties.parquet is not a readable parquet file (ArrowInvalid)"
    assert answer["songs"] == found[1]["songs"] != []


def test_choosing_a_song_shows_its_countries_by_probability_with_names_and_a_chart(catalog, jukebox, tmp_path):
    with jukebox.model(), jukebox.page_server(), opened(jukebox.url) as page:
        search(page, "gimme! gimme", "results")
        page.click("#results .song")
        prediction_state(page, "result")
        assert page.inner_text("#song-name") == "Gimme! Gimme! Gimme! (A Man After Midnight)"
        assert page.inner_text("#song-artists") == "ABBA"
        assert page.inner_text("#song-id") == GIMME
        rows = [row.split("\t") for row in page.locator("#countries tbody tr").all_inner_texts()]
        by_probability = [code for _, code in sorted(zip(probabilities(GIMME), CODES, strict=True), key=descending)]
        assert [code for code, _, _ in rows] == by_probability
        names = {code: name for code, name, _ in rows}
        assert (names["KR"], names["US"], names["GB"]) == ("South Korea", "United States", "United Kingdom")
        assert page.locator("#chart rect.bar").count() == 10
        assert page.locator("#chart text.label").all_text_contents() == [names[code] for code in by_probability[:10]]
        assert page.inner_text("#model-version") == f"model version {MODEL_VERSION}"
        page.screenshot(path=str(tmp_path / "jukebox-page.png"), full_page=True)


@pytest.mark.parametrize("screen", SCREENS)
def test_every_column_of_the_answer_is_on_screen_at_a_laptops_and_a_phones_size(catalog, jukebox, screen):
    width, height = SCREENS[screen]
    with jukebox.model(), jukebox.page_server(), opened(jukebox.url, (width, height)) as page:
        search(page, "gimme! gimme", "results")
        page.click("#results .song")
        prediction_state(page, "result")
        page.wait_for_selector("#map path.country")
        assert_on_screen(page, width, height)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"jukebox-search-{screen}-{width}x{height}.png"), full_page=True)


def test_a_song_is_found_and_chosen_with_the_keyboard_alone(catalog, jukebox):
    with jukebox.model(), jukebox.page_server(), opened(jukebox.url) as page:
        assert page.evaluate("document.activeElement.id") == "query", "the page opens in its search box"
        page.keyboard.type("billie eilish")
        page.wait_for_selector('#search[data-state="results"][data-query="billie eilish"]')
        assert "↓ goes through them, Enter chooses one." in page.inner_text("#search-status")
        focused = "document.activeElement.dataset.id || document.activeElement.id"
        ids = page.locator("#results .song").evaluate_all("songs => songs.map(song => song.dataset.id)")
        assert BILLIE in ids and len(ids) > 2, ids
        page.keyboard.press("ArrowDown")
        assert page.evaluate(focused) == ids[0]
        for _ in range(ids.index(BILLIE)):
            page.keyboard.press("ArrowDown")
        assert page.evaluate(focused) == BILLIE
        page.keyboard.press("Enter")
        prediction_state(page, "result")
        assert page.inner_text("#song-id") == BILLIE
        chosen = page.locator(f'#results .song[data-id="{BILLIE}"]')
        assert chosen.get_attribute("aria-current") == "true"
        assert "✓ its countries are shown" in chosen.inner_text(), "the chosen song says so in words, not only colour"
        page.keyboard.press("End")
        assert page.evaluate(focused) == ids[-1]
        page.keyboard.press("Home")
        page.keyboard.press("ArrowUp")
        assert page.evaluate(focused) == "query", "↑ from the first song goes back to the search box"
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Escape")
        assert page.evaluate(focused) == "query"


def test_a_song_not_in_the_feature_store_yet_says_so(catalog, jukebox):
    with jukebox.model(), jukebox.page_server(), opened(jukebox.url) as page:
        page.fill("#query", LIVE_FOREVER)  # an id is enough, even one the catalog does not list
        prediction_state(page, "not-in-store")
        message = page.inner_text("#prediction-message")
        assert "not in the feature store yet" in message
        assert not_in_store(LIVE_FOREVER) in message
        assert page.inner_text("#song-id") == LIVE_FOREVER


def test_the_page_shows_the_model_server_down_and_recovers_when_it_is_back(catalog, jukebox):
    with jukebox.page_server(), opened(jukebox.url) as page:
        with jukebox.model():
            search(page, "gimme! gimme", "results")
            page.click("#results .song")
            prediction_state(page, "result")
        page.click("#results .song")  # the model server is stopped now
        prediction_state(page, "model-down")
        assert f"The model server at {jukebox.model_url} is not answering" in page.inner_text("#prediction-message")
        with jukebox.model():
            prediction_state(page, "result")  # the page looks again by itself
            assert page.locator("#chart rect.bar").count() == 10


@pytest.mark.parametrize("mode", ["not-ready", "no-model"])
def test_the_page_says_when_no_model_is_ready_yet(catalog, jukebox, mode):
    with jukebox.model(mode), jukebox.page_server(), opened(jukebox.url) as page:
        search(page, "gimme! gimme", "results")
        page.click("#results .song")
        prediction_state(page, "not-ready")
        expected = "is not ready" if mode == "not-ready" else "No model jukebox is deployed yet"
        assert expected in page.inner_text("#prediction-message")


def test_without_a_catalog_the_page_says_to_run_the_data_pipeline(participant, jukebox):
    remove_catalog(participant)
    with jukebox.page_server(), opened(jukebox.url) as page:
        assert call(f"{jukebox.url}/api/songs?q=gimme") == (
            200,
            {"songs": [], "note": "no song catalog in s3://data yet: run the data pipeline"},
        )
        search(page, "gimme", "no-catalog")
        assert page.inner_text("#catalog-note") == "Note: no song catalog in s3://data yet: run the data pipeline."


def test_the_proxy_passes_v2_calls_through_unchanged(catalog, jukebox):
    def request(song_id):
        return {
            "id": "call-1",
            "inputs": [{"name": "input", "shape": [1, 1], "datatype": "STRING", "data": [[song_id]]}],
        }

    with jukebox.model(), jukebox.page_server():
        for song_id in (GIMME, LIVE_FOREVER):
            through_page = call(f"{jukebox.url}/v2/models/{MODEL}/infer", request(song_id))
            direct = call(f"{jukebox.model_url}/v2/models/{MODEL}/infer", request(song_id))
            assert through_page == direct
        assert through_page == (404, {"error": not_in_store(LIVE_FOREVER)})
        for path in ("/v2/health/ready", f"/v2/models/{MODEL}"):
            assert call(jukebox.url + path) == call(jukebox.model_url + path)
    with jukebox.page_server():
        answer = call(f"{jukebox.url}/v2/models/{MODEL}/infer", request(GIMME))
    sentence = f"The model server at {jukebox.model_url} is not answering: the connection was refused."
    assert answer == (503, {"error": sentence})


def test_no_credential_appears_in_the_page_servers_answers_or_log(catalog, jukebox):
    variables = catalog.variables()
    wrong = {**variables, "AWS_SECRET_ACCESS_KEY": "wrong-" + variables["AWS_SECRET_ACCESS_KEY"]}
    secrets = [variables[name] for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "password")]
    secrets.append(wrong["AWS_SECRET_ACCESS_KEY"])
    paths = ["/", "/app.js", "/style.css", "/health", "/api/songs?q=abba", "/nowhere", "/v2/health/ready"]
    with jukebox.model(), jukebox.page_server():
        answers = [fetch(jukebox.url + path) for path in paths]
        answers.append(fetch(f"{jukebox.url}/v2/models/{MODEL}/infer", {"inputs": []}))
    with jukebox.page_server(env=wrong):
        refused = fetch(f"{jukebox.url}/api/songs?q=abba")
    assert "refused the page's credentials" in json.loads(refused[1])["note"]
    said = repr([*answers, refused]) + jukebox.log.read_text()
    assert "GET /api/songs?q=abba" in jukebox.log.read_text()  # the page server's log, written as it went
    for secret in secrets:
        assert secret not in said


# ---- the world map ----------------------------------------------------------------------------------


def luminance(rgb: str) -> float:
    red, green, blue = (int(part) for part in rgb.removeprefix("rgb(").removesuffix(")").split(","))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def test_the_map_shades_the_top_country_darkest_and_names_each_country_on_focus(catalog, jukebox):
    with jukebox.model(), jukebox.page_server(), opened(jukebox.url) as page:
        search(page, "gimme! gimme", "results")
        page.click("#results .song")
        prediction_state(page, "result")
        page.wait_for_selector("#map path.country")
        rows = table(page)
        top_code, top_name, top_percent = rows[0]
        fills = page.locator("#map path.country").evaluate_all(
            "paths => paths.map(path => [path.dataset.code, getComputedStyle(path).fill])"
        )
        shaded = {code: luminance(fill) for code, fill in fills}
        assert set(shaded) == set(CODES) - {"HK", "SG"}, "every country of the model on the map is shaded"
        assert min(shaded, key=shaded.get) == top_code, "the most likely country is the darkest"
        assert len(set(shaded.values())) > 10, "the shades differ with the probabilities"
        assert page.inner_text(".legend").startswith("0 %")
        assert page.inner_text("#legend-high") == f"{top_percent} %"
        page.focus(f'#map path[data-code="{top_code}"]')
        said = f"{top_name}: {top_percent} %"
        assert page.inner_text("#map-tip") == said
        top = page.locator(f'#map path[data-code="{top_code}"]')
        assert top.get_attribute("aria-label") == said and top.locator("title").text_content() == said
        assert top.get_attribute("tabindex") == "0"
        missing = [f"{name} {probability} %" for code, name, probability in rows if code in ("HK", "SG")]
        assert page.inner_text("#map-missing") == f"Too small for this map: {', '.join(missing)}.", "likeliest first"
        unknown = page.locator("#map path.no-data").first
        assert unknown.get_attribute("tabindex") is None and "not a country of the model" in unknown.text_content()


# ---- "what if": the sliders ask the real transformer -------------------------------------------------


def test_moving_a_slider_changes_the_answer_one_request_at_a_time(catalog, jukebox, served):
    asked, in_flight, most = [], [0], [0]

    def sent(request):
        if request.url.endswith("/infer"):
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
            asked.append({item["name"]: item["data"][0][0] for item in request.post_data_json["inputs"]})

    def back(request):
        if request.url.endswith("/infer"):
            in_flight[0] -= 1

    with jukebox.page_server(model_port=served.port), opened(jukebox.url) as page:
        page.on("request", sent)
        page.on("requestfinished", back)
        page.on("requestfailed", back)
        what_if(page)
        assert slider_names(page) == FEATURES
        median = call(f"{jukebox.url}/api/song-properties")[1]
        assert asked == [median["properties"]], "the sliders start from the catalog's median song"
        assert page.inner_text("#song-name") == f"What if… {median['song']['name']}"
        assert "started from the catalog's median song, unchanged" in page.inner_text("#song-artists")
        before = table(page)
        page.focus("#feature-energy")
        page.keyboard.press("End")  # energy 1.0
        for _ in range(20):
            page.keyboard.press("ArrowLeft")  # … down to 0.98, one step of the contract's 0.001 at a time
        assert page.get_attribute("#prediction", "data-state") == "result", "the answer stays while it is asked again"
        answered_for(page, "energy", 0.98)
        after = table(page)
        assert page.inner_text("#feature-energy-value") == "0.980"
        assert "changed: energy" in page.inner_text("#song-artists")
    assert after != before, "moving energy changed the answer"
    assert most[0] == 1, "never more than one request in flight"
    assert 2 <= len(asked) < 22, f"the moves were debounced: {len(asked)} requests for 21 moves"
    direct = served.infer(
        {"inputs": [{"name": n, "shape": [1, 1], "datatype": "FP32", "data": [[v]]} for n, v in asked[-1].items()]}
    )[1]
    probabilities = direct["outputs"][0]["data"]
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    assert after[0][0] == direct["outputs"][1]["data"][best], "the page shows the transformer's answer"
    assert asked[-1]["energy"] == pytest.approx(0.98) and asked[-1]["tempo"] == median["properties"]["tempo"]


@pytest.mark.slow
def test_after_loudness_is_left_out_the_sliders_follow_the_served_version_without_a_reload(
    catalog, jukebox, prepared, twelve, feature_repo, tmp_path
):
    from servingtools import Registry

    registry = Registry(tmp_path / "registry")
    registry.set_alias(registry.register(prepared))
    with real_servers(registry, feature_repo, tmp_path) as front, jukebox.page_server(model_port=front.port):
        with opened(jukebox.url) as page:
            what_if(page)
            assert slider_names(page) == FEATURES and page.inner_text("#model-version") == "model version 1"
            registry.set_alias(registry.register(twelve))  # CT deploys the model trained on 12 features
            page.wait_for_function(
                "() => document.querySelectorAll('#controls .control').length === 12", timeout=120_000
            )
            assert slider_names(page) == [feature for feature in FEATURES if feature != "loudness"]
            assert page.locator("#feature-loudness").count() == 0
            page.wait_for_selector('#whatif-mode[data-state="answered"]', timeout=60_000)
            assert page.inner_text("#model-version") == "model version 2"
            page.focus("#feature-tempo")
            page.keyboard.press("End")
            answered_for(page, "tempo", 300)
            assert page.inner_text("#model-version") == "model version 2"
            assert page.inner_text("#whatif-status") == "The model answered for these 12 properties."


@pytest.mark.parametrize("screen", SCREENS)
def test_the_what_if_mode_and_its_map_fit_a_laptops_and_a_phones_screen(catalog, jukebox, served, screen):
    width, height = SCREENS[screen]
    with jukebox.page_server(model_port=served.port), opened(jukebox.url, (width, height)) as page:
        search(page, "gimme! gimme", "results")
        page.click("#results .song")  # the song the sliders start from: no model double here, so no answer
        what_if(page)
        assert "started from the song picked in search" in page.inner_text("#song-artists")
        assert page.inner_text("#song-name") == "What if… Gimme! Gimme! Gimme! (A Man After Midnight)"
        page.wait_for_selector("#map path.country")
        assert page.locator("#controls .control").count() == 13
        assert_on_screen(page, width, height)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"jukebox-whatif-{screen}-{width}x{height}.png"), full_page=True)
