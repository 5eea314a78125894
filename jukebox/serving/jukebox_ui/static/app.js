// The Jukebox page: search the participant's song catalog, ask the served model where a song will chart,
// or move the "what if" sliders (one per feature of the served model) and see the answer change.
// It speaks to the model only through the Open Inference Protocol v2 (infer, health/ready, model metadata),
// so it needs no change when the model's features change: the sliders follow the model's metadata.
// The sliders send raw values; the transformer scales them with the served version's own scaler.
"use strict";

const MODEL = "jukebox";
const SONG_ID = /^[0-9A-Za-z]{22}$/;
const DEBOUNCE_MS = 250;
const RETRY_MS = 2000; // while the model server is down or not ready, look again this often
const TOP = 10;
const DOWN_HEADER = "X-Jukebox-Model-Server"; // set by the page server on its own "not answering" 503
const SLIDER_MS = 120; // a slider's answer is asked for once it rests this long
const FOLLOW_MS = 3000; // in "what if" mode, look at the served model's features this often
const SVG = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);
const regionNames = (() => {
  try {
    return new Intl.DisplayNames(["en"], { type: "region", fallback: "none" });
  } catch {
    return null;
  }
})();

let searchTimer = null;
let retryTimer = null;
let searchSeq = 0;
let predictSeq = 0;
let chosen = null; // the song whose prediction is shown or asked for: {spotify_id, name, artists}
let mode = "search"; // or "whatif"

function countryName(code) {
  try {
    return (regionNames && regionNames.of(code)) || code;
  } catch {
    return code; // not a region code at all
  }
}

function percent(probability) {
  const value = probability * 100;
  return value > 0 && value < 0.1 ? "< 0.1" : value.toFixed(1);
}

function element(tag, attributes = {}, text = "") {
  const svg = ["svg", "rect", "text", "g", "title", "path"].includes(tag);
  const node = svg ? document.createElementNS(SVG, tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

// ---- search ---------------------------------------------------------------------------------

function setSearch(state, message, text = "") {
  $("search").dataset.state = state;
  $("search").dataset.query = text; // what the state is about: tests (and people) can tell two searches apart
  $("search-status").textContent = message;
}

function showNote(note) {
  $("catalog-note").hidden = !note;
  $("catalog-note").textContent = note ? `Note: ${note}.` : "";
}

async function runSearch() {
  const text = $("query").value.trim();
  const seq = ++searchSeq;
  if (!text) {
    $("results").replaceChildren();
    setSearch("idle", "Type a song's name, an artist or a song id.");
    return;
  }
  setSearch("searching", "Searching…", text);
  let answer;
  try {
    const response = await fetch(`api/songs?q=${encodeURIComponent(text)}`);
    answer = await response.json();
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
  } catch (error) {
    if (seq === searchSeq) setSearch("error", `The page's server is not answering: ${error.message}`, text);
    return;
  }
  if (seq !== searchSeq) return; // a newer search is on its way
  showNote(answer.note);
  showResults(answer.songs);
  if (answer.songs.length) {
    const count = answer.songs.length;
    const found = count === 1 ? "1 song found." : `${count} songs found${count === 20 ? " (the first 20)" : ""}.`;
    const keys = count === 1 ? "↓ goes to it, Enter chooses it." : "↓ goes through them, Enter chooses one.";
    setSearch("results", `${found} ${keys}`, text);
  } else {
    setSearch(answer.note ? "no-catalog" : "no-match", `No song matches “${text}”.`, text);
  }
  if (SONG_ID.test(text)) {
    // An id is enough to ask the model, even for a song the catalog does not list.
    choose(answer.songs.find((song) => song.spotify_id === text) || { spotify_id: text, name: "", artists: "" });
  }
}

function showResults(songs) {
  const items = songs.map((song) => {
    const button = element("button", { type: "button", class: "song", "data-id": song.spotify_id });
    button.append(
      element("span", { class: "song-name" }, song.name || song.spotify_id),
      element("span", { class: "song-artists" }, song.artists),
      element("span", { class: "song-shown" }, "✓ its countries are shown"),
    );
    if (chosen && chosen.spotify_id === song.spotify_id) button.setAttribute("aria-current", "true");
    button.addEventListener("click", () => choose(song));
    const item = element("li");
    item.append(button);
    return item;
  });
  $("results").replaceChildren(...items);
}

// ---- prediction -------------------------------------------------------------------------------

// A prediction state: a headline, the servers' own sentence as detail, and a "Try again" button where it helps.
function setPrediction(state, headline, detail = "", retry = false) {
  $("prediction").dataset.state = state;
  $("prediction").dataset.song = chosen ? chosen.spotify_id : "";
  $("prediction-status").textContent = headline;
  $("prediction-detail").textContent = detail;
  $("prediction-message").hidden = state === "result";
  $("answer").hidden = state !== "result";
  $("retry").hidden = !retry;
  clearTimeout(retryTimer);
}

function showCard(song) {
  $("song-card").hidden = false;
  $("song-name").textContent = song.name || "A song the catalog does not list";
  $("song-artists").textContent = song.artists || "";
  $("song-id").textContent = song.spotify_id;
  for (const button of document.querySelectorAll("#results .song")) {
    if (button.dataset.id === song.spotify_id) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

function choose(song) {
  chosen = song;
  showCard(song);
  predict();
}

function inferRequest(spotifyId) {
  return { inputs: [{ name: "input", shape: [1, 1], datatype: "STRING", data: [[spotifyId]] }] };
}

// POST an inference request to the model's path; its response and JSON answer (an empty object when the body is not JSON).
async function askModel(request) {
  const response = await fetch(`v2/models/${MODEL}/infer`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(request),
  });
  const answer = await response.json().catch(() => ({}));
  return { response, answer };
}

// Ask the model about the chosen song. A quiet call (a retry) keeps the state shown until the answer comes.
async function predict(quiet = false) {
  const song = chosen;
  const seq = ++predictSeq;
  const title = song.name || "This song";
  if (!quiet) setPrediction("loading", `Asking the model where ${song.name || "this song"} will chart…`);
  let response;
  let answer;
  try {
    ({ response, answer } = await askModel(inferRequest(song.spotify_id)));
  } catch (error) {
    if (seq === predictSeq) modelDown(`The page's server is not answering (${error.message}).`);
    return;
  }
  if (seq !== predictSeq) return; // another song was chosen meanwhile
  const said = answer.error || `The model server answered HTTP ${response.status}.`;
  if (response.ok) {
    showPrediction(song, answer);
  } else if (response.headers.get(DOWN_HEADER)) {
    modelDown(said);
  } else if (response.status === 404) {
    // Either the song is not in the feature store, or there is no model "jukebox" at all.
    const model = await fetch(`v2/models/${MODEL}`).catch(() => null);
    if (seq !== predictSeq) return;
    if (model && model.status === 404) notReady(`No model ${MODEL} is deployed yet.`, said, `v2/models/${MODEL}`);
    else setPrediction("not-in-store", `${title} is not in the feature store yet.`, said);
  } else if (response.status === 503) {
    notReady("No model is ready to answer yet.", said, `v2/models/${MODEL}/ready`);
  } else {
    setPrediction("error", "The model could not answer.", said, true);
  }
}

function modelDown(said) {
  setPrediction("model-down", "The model server is down.", `${said} The page tries again every few seconds.`, true);
  askAgainWhenAnswering("v2/health/ready");
}

function notReady(headline, said, readyPath) {
  setPrediction("not-ready", headline, `${said} The page tries again every few seconds.`, true);
  askAgainWhenAnswering(readyPath);
}

// Look at a v2 health or model endpoint every RETRY_MS; once it answers 200, ask about the song again.
function askAgainWhenAnswering(path) {
  const seq = predictSeq;
  const look = async () => {
    const answering = await fetch(path).then((response) => response.ok, () => false);
    if (seq !== predictSeq) return; // the participant chose another song (or moved a slider) meanwhile
    if (answering) askAgain();
    else retryTimer = setTimeout(look, RETRY_MS);
  };
  retryTimer = setTimeout(look, RETRY_MS);
}

function output(answer, name) {
  return (answer.outputs || []).find((tensor) => tensor.name === name);
}

// The countries of an answer, most likely first, or null when the answer is not the one this page reads.
function answerCountries(answer) {
  const probabilities = output(answer, "probabilities");
  const codes = output(answer, "country_codes");
  if (!probabilities || !codes) {
    const detail = "Its answer has no outputs probabilities and country_codes.";
    setPrediction("error", "The model's answer is not the one this page reads.", detail, true);
    return null;
  }
  const values = probabilities.data.flat(Infinity).map(Number);
  return codes.data
    .flat(Infinity)
    .map((code, index) => ({ code: String(code), name: countryName(String(code)), probability: values[index] }))
    .sort((a, b) => b.probability - a.probability);
}

function showAnswer(countries, version, headline) {
  showTable(countries);
  showChart(countries.slice(0, TOP));
  showMap(countries);
  $("model-version").textContent = version ? `model version ${version}` : "";
  setPrediction("result", headline);
}

function showPrediction(song, answer) {
  const countries = answerCountries(answer);
  if (countries) showAnswer(countries, answer.model_version, `Where ${song.name || song.spotify_id} will chart.`);
}

function showTable(countries) {
  const rows = countries.map((country) => {
    const row = element("tr");
    row.append(
      element("td", { class: "code" }, country.code),
      element("td", {}, country.name),
      element("td", { class: "number" }, percent(country.probability)),
    );
    return row;
  });
  $("countries").tBodies[0].replaceChildren(...rows);
}

function showChart(countries) {
  const barHeight = 26;
  const gap = 10;
  const labelWidth = 190; // room for "United Arab Emirates"
  const barSpace = 250;
  const width = labelWidth + barSpace + 70;
  const height = countries.length * (barHeight + gap);
  const largest = Math.max(...countries.map((country) => country.probability), 1e-9);
  const chart = $("chart");
  chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const bars = countries.map((country, index) => {
    const y = index * (barHeight + gap);
    const group = element("g", { class: "bar-row" });
    const barWidth = Math.max(2, (country.probability / largest) * barSpace);
    const bar = element("rect", { class: "bar", x: labelWidth, y, width: barWidth, height: barHeight, rx: 3 });
    bar.append(element("title", {}, `${country.name}: ${percent(country.probability)} %`));
    group.append(
      element("text", { class: "label", x: labelWidth - 8, y: y + barHeight / 2 }, country.name),
      bar,
      element("text", { class: "value", x: labelWidth + barWidth + 6, y: y + barHeight / 2 }, `${percent(country.probability)} %`),
    );
    return group;
  });
  chart.replaceChildren($("chart-title"), ...bars);
}

// ---- the world map ---------------------------------------------------------------------------------
// The shapes are package data (static/world.json, made by build_world.py from world-atlas): one SVG
// path per country, keyed by its ISO 3166-1 alpha-2 code, the code the model's countries use.

let world = null; // the promise of the map's shapes, fetched once
const LIGHT = [236, 246, 244]; // the colour of probability 0
const DARK = [6, 63, 59]; // the colour of the most likely country

function worldShapes() {
  if (!world) {
    world = fetch("world.json")
      .then((response) => (response.ok ? response.json() : Promise.reject(new Error(`HTTP ${response.status}`))))
      .then((shapes) => {
        const paths = shapes.countries.map((country) => {
          const path = element("path", { d: country.path, class: "no-data", "data-name": country.name });
          if (country.code) path.dataset.code = country.code;
          path.append(element("title", {}, `${country.name}: not a country of the model`));
          return path;
        });
        $("map").replaceChildren(...paths);
        return shapes;
      });
    world.catch(() => {
      world = null; // try again with the next answer
    });
  }
  return world;
}

function shade(share) {
  const mix = LIGHT.map((light, index) => Math.round(light + (DARK[index] - light) * share));
  return `rgb(${mix.join(", ")})`;
}

async function showMap(countries) {
  let shapes;
  try {
    shapes = await worldShapes();
  } catch (error) {
    $("map-tip").textContent = `The map could not be loaded (${error.message}); the table has every country.`;
    return;
  }
  const largest = Math.max(...countries.map((country) => country.probability), 1e-9);
  const byCode = new Map(countries.map((country) => [country.code, country]));
  for (const path of $("map").querySelectorAll("path[data-code]")) {
    const country = byCode.get(path.dataset.code);
    if (!country) continue;
    const said = `${country.name}: ${percent(country.probability)} %`;
    path.setAttribute("class", "country");
    path.setAttribute("tabindex", "0");
    path.setAttribute("aria-label", said);
    path.dataset.probability = country.probability;
    path.style.fill = shade(country.probability / largest);
    path.querySelector("title").textContent = said;
  }
  $("legend-high").textContent = `${percent(largest)} %`;
  const drawn = new Set(shapes.countries.map((country) => country.code));
  const missing = countries.filter((country) => !drawn.has(country.code));
  $("map-missing").hidden = !missing.length;
  $("map-missing").textContent = missing.length
    ? `Too small for this map: ${missing.map((country) => `${country.name} ${percent(country.probability)} %`).join(", ")}.`
    : "";
}

function tellCountry(event) {
  const path = event.target.closest("path.country");
  if (path) $("map-tip").textContent = path.getAttribute("aria-label");
}

// ---- "what if": one slider per feature of the served model ----------------------------------------

const whatif = {
  controls: null, // the data contract's controls by feature (GET api/controls)
  features: [], // the served model's features, in its order (its v2 metadata)
  version: null, // the served version those features are of
  values: {}, // each feature's raw value now
  start: null, // the song the values started from: {song, properties, median?}
  changed: new Set(), // the features moved since then
  picked: null, // the song picked in search when the sliders last started from it
  timer: null, // the debounce of slider moves
  inFlight: false, // a request to the model is on its way (never more than one)
  again: false, // the values changed while it was: ask once more when it is back
  followTimer: null,
};

async function getJson(path) {
  const response = await fetch(path);
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(answer.error || `HTTP ${response.status}`), { status: response.status });
  return answer;
}

function decimals(step) {
  return Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
}

function shown(control, value) {
  const label = control.labels && control.labels[String(Math.round(value))];
  if (control.unit === "min:s") {
    const seconds = Math.round(value / 1000);
    return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")} min`;
  }
  const number = Number(value).toFixed(decimals(control.step));
  if (label) return control.kind === "toggle" ? label : `${label} (${number})`;
  return control.unit ? `${number} ${control.unit}` : number;
}

function setWhatIf(state, message) {
  $("whatif-mode").dataset.state = state;
  $("whatif-mode").dataset.features = whatif.features.length;
  $("whatif-status").textContent = message;
}

// One row per feature of the served model: a slider (or a toggle) with its value in words.
function drawControls() {
  const rows = whatif.features.map((name) => {
    const control = whatif.controls[name] || { name, kind: "slider", min: -10, max: 10, step: 0.01 };
    const value = Math.min(control.max, Math.max(control.min, whatif.values[name] ?? control.min));
    whatif.values[name] = value;
    const id = `feature-${name}`;
    const row = element("div", { class: `control ${control.kind}`, "data-feature": name });
    const label = element("label", { for: id }, name);
    const said = element("output", { for: id, id: `${id}-value` }, shown(control, value));
    const input =
      control.kind === "toggle"
        ? element("input", { type: "checkbox", role: "switch", id, name })
        : element("input", { type: "range", id, name, min: control.min, max: control.max, step: control.step });
    if (control.kind === "toggle") input.checked = value === control.max;
    else input.value = value;
    input.setAttribute("aria-valuetext", shown(control, value));
    input.addEventListener(control.kind === "toggle" ? "change" : "input", () => {
      whatif.values[name] = control.kind === "toggle" ? (input.checked ? control.max : control.min) : Number(input.value);
      whatif.changed.add(name);
      said.textContent = shown(control, whatif.values[name]);
      input.setAttribute("aria-valuetext", said.textContent);
      moved();
    });
    row.append(label, said, input);
    return row;
  });
  $("controls").replaceChildren(...rows);
  $("controls").dataset.version = whatif.version || "";
}

function moved() {
  clearTimeout(whatif.timer);
  setWhatIf("changing", "Asking the model once the slider rests…");
  whatif.timer = setTimeout(askWhatIf, SLIDER_MS);
}

// The served model's features (its v2 metadata); true when they changed, so the sliders must be drawn again.
async function readModel() {
  const metadata = await getJson(`v2/models/${MODEL}`);
  const features = (metadata.inputs || []).filter((input) => input.datatype === "FP32").map((input) => input.name);
  const version = (metadata.versions || [])[0] || null;
  const changed = features.join() !== whatif.features.join() || version !== whatif.version;
  whatif.features = features;
  whatif.version = version;
  return changed;
}

function cardFor(start) {
  const song = start.song;
  $("song-card").hidden = false;
  $("song-name").textContent = `What if… ${song.name || song.spotify_id}`;
  const from = start.median ? "the catalog's median song" : "the song picked in search";
  const changed = [...whatif.changed].filter((name) => whatif.features.includes(name));
  $("song-artists").textContent = `${song.artists} · started from ${from}${changed.length ? `; changed: ${changed.join(", ")}` : ", unchanged"}`;
  $("song-id").textContent = song.spotify_id;
}

// Where the sliders start: the song picked in search, else the catalog's median song.
async function startFrom(songId) {
  const path = songId ? `api/song-properties?id=${encodeURIComponent(songId)}` : "api/song-properties";
  let start;
  try {
    start = await getJson(path);
  } catch (error) {
    if (songId && error.status === 404) return startFrom(null); // a song the catalog does not list: the median one
    setWhatIf("error", `The sliders have no song to start from: ${error.message}`);
    return;
  }
  whatif.start = start;
  whatif.values = { ...start.properties };
  whatif.changed = new Set();
  drawControls();
  askWhatIf();
}

async function enterWhatIf() {
  try {
    if (!whatif.controls) {
      const answer = await getJson("api/controls");
      whatif.controls = Object.fromEntries(answer.controls.map((control) => [control.name, control]));
    }
    await readModel();
  } catch (error) {
    setWhatIf("error", `The sliders cannot be drawn: ${error.message}. The page tries again every few seconds.`);
    whatif.followTimer = setTimeout(enterWhatIf, FOLLOW_MS);
    return;
  }
  const picked = chosen ? chosen.spotify_id : null;
  if (!whatif.start || (picked && picked !== whatif.picked)) {
    whatif.picked = picked; // a song picked in search since the last time: start from it
    await startFrom(picked);
  } else {
    drawControls();
    askWhatIf();
  }
  follow();
}

// While "what if" is shown, look at the served model now and then: a new version with other
// features (say, loudness left out) redraws the sliders, without a reload.
function follow() {
  clearTimeout(whatif.followTimer);
  whatif.followTimer = setTimeout(async () => {
    if (mode !== "whatif") return;
    try {
      if (await readModel()) {
        drawControls();
        askWhatIf();
      }
    } catch {
      // the model server is down or has no model: the answer's state says so
    }
    follow();
  }, FOLLOW_MS);
}

function whatIfRequest() {
  return {
    inputs: whatif.features.map((name) => ({ name, shape: [1, 1], datatype: "FP32", data: [[whatif.values[name]]] })),
  };
}

// Ask the model about the sliders' values: one request at a time; values moved meanwhile are asked next.
async function askWhatIf() {
  clearTimeout(whatif.timer);
  if (whatif.inFlight) {
    whatif.again = true;
    return;
  }
  whatif.inFlight = true;
  const seq = ++predictSeq;
  if ($("prediction").dataset.state !== "result") setPrediction("loading", "Asking the model…");
  setWhatIf("asking", "Asking the model…");
  const request = whatIfRequest();
  let response;
  let answer;
  try {
    ({ response, answer } = await askModel(request));
  } catch (error) {
    answer = { error: `The page's server is not answering (${error.message}).` };
  }
  whatif.inFlight = false;
  if (seq !== predictSeq || mode !== "whatif") return;
  const said = answer.error || `The model server answered HTTP ${response && response.status}.`;
  if (response && response.ok) {
    const countries = answerCountries(answer);
    if (!countries) return;
    cardFor(whatif.start);
    showAnswer(countries, answer.model_version, "Where a song with these properties would chart.");
    // The values this answer is for (tests, and people reading the page's state, can check it).
    $("whatif-mode").dataset.answered = JSON.stringify(
      Object.fromEntries(request.inputs.map((input) => [input.name, input.data[0][0]])),
    );
    if (whatif.again) {
      whatif.again = false;
      askWhatIf(); // the sliders moved while this was asked: ask for their newest values
    } else if (answer.model_version && answer.model_version !== whatif.version && (await readModel())) {
      drawControls(); // a new version answered: its features may be others
      askWhatIf();
    } else {
      setWhatIf("answered", `The model answered for these ${whatif.features.length} properties.`);
    }
  } else if (whatif.again) {
    whatif.again = false;
    askWhatIf();
  } else if (!response || response.headers.get(DOWN_HEADER)) {
    setWhatIf("error", "The model server is down.");
    modelDown(said);
  } else if (response.status === 400 && (await readModel().catch(() => false))) {
    drawControls(); // the served version changed its features since the sliders were drawn
    askWhatIf();
  } else if (response.status === 404 || response.status === 503) {
    setWhatIf("error", "No model is ready to answer yet.");
    notReady("No model is ready to answer yet.", said, `v2/models/${MODEL}/ready`);
  } else {
    setWhatIf("error", "The model could not answer.");
    setPrediction("error", "The model could not answer.", said, true);
  }
}

// ---- the two modes --------------------------------------------------------------------------------

function askAgain() {
  if (mode === "whatif") askWhatIf();
  else if (chosen) predict(true);
}

function setMode(next) {
  mode = next;
  document.body.dataset.mode = next;
  for (const [name, tab] of [["search", $("mode-search")], ["whatif", $("mode-whatif")]]) {
    tab.setAttribute("aria-selected", String(name === next));
    tab.tabIndex = name === next ? 0 : -1;
  }
  $("search-mode").hidden = next !== "search";
  $("whatif-mode").hidden = next !== "whatif";
  predictSeq++; // an answer on its way for the other mode is not shown
  if (next === "whatif") {
    enterWhatIf();
  } else {
    clearTimeout(whatif.followTimer);
    if (chosen) choose(chosen);
    else {
      $("song-card").hidden = true;
      setPrediction("idle", "Choose a song to see where it will chart.");
    }
  }
}

// ---- wiring -----------------------------------------------------------------------------------

$("query").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(runSearch, DEBOUNCE_MS);
});
$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  clearTimeout(searchTimer);
  runSearch();
});
$("retry").addEventListener("click", () => (mode === "whatif" ? askWhatIf() : chosen && predict()));
$("mode-search").addEventListener("click", () => setMode("search"));
$("mode-whatif").addEventListener("click", () => setMode("whatif"));
for (const tab of [$("mode-search"), $("mode-whatif")]) {
  tab.addEventListener("keydown", (event) => {
    if (!["ArrowLeft", "ArrowRight"].includes(event.key)) return;
    const other = tab.id === "mode-search" ? $("mode-whatif") : $("mode-search");
    other.focus();
    other.click();
    event.preventDefault();
  });
}
$("whatif-median").addEventListener("click", () => startFrom(null));
$("map").addEventListener("pointerover", tellCountry);
$("map").addEventListener("focusin", tellCountry);

// The keyboard: ↓ from the search box goes to the songs found, ↑ and ↓ move among them, Enter or
// Space chooses one (it is a button), Escape goes back to the search box.
function moveAmongResults(event) {
  const songs = [...document.querySelectorAll("#results .song")];
  const at = songs.indexOf(document.activeElement);
  const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: songs.length - 1 }[event.key];
  if (event.key === "Escape" && at >= 0) {
    $("query").focus();
  } else if (to !== undefined && songs.length && (at >= 0 || event.key === "ArrowDown")) {
    if (to < 0) $("query").focus();
    else songs[Math.min(to, songs.length - 1)].focus();
  } else {
    return;
  }
  event.preventDefault();
}
$("query").addEventListener("keydown", moveAmongResults);
$("results").addEventListener("keydown", moveAmongResults);
$("query").focus();
