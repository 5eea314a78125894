// The Jukebox page: search the participant's song catalog, ask the served model where a song will chart.
// It speaks to the model only through the Open Inference Protocol v2 (infer, health/ready, model metadata),
// so it needs no change when the model's features change.
"use strict";

const MODEL = "jukebox";
const SONG_ID = /^[0-9A-Za-z]{22}$/;
const DEBOUNCE_MS = 250;
const RETRY_MS = 2000; // while the model server is down or not ready, look again this often
const TOP = 10;
const DOWN_HEADER = "X-Jukebox-Model-Server"; // set by the page server on its own "not answering" 503

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
  const svg = ["svg", "rect", "text", "g", "title"].includes(tag);
  const node = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
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

// Ask the model about the chosen song. A quiet call (a retry) keeps the state shown until the answer comes.
async function predict(quiet = false) {
  const song = chosen;
  const seq = ++predictSeq;
  const title = song.name || "This song";
  if (!quiet) setPrediction("loading", `Asking the model where ${song.name || "this song"} will chart…`);
  let response;
  let answer;
  try {
    response = await fetch(`v2/models/${MODEL}/infer`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(inferRequest(song.spotify_id)),
    });
    answer = await response.json().catch(() => ({}));
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
    if (seq !== predictSeq) return; // the participant chose another song meanwhile
    if (answering) predict(true);
    else retryTimer = setTimeout(look, RETRY_MS);
  };
  retryTimer = setTimeout(look, RETRY_MS);
}

function output(answer, name) {
  return (answer.outputs || []).find((tensor) => tensor.name === name);
}

function showPrediction(song, answer) {
  const probabilities = output(answer, "probabilities");
  const codes = output(answer, "country_codes");
  if (!probabilities || !codes) {
    const detail = "Its answer has no outputs probabilities and country_codes.";
    setPrediction("error", "The model's answer is not the one this page reads.", detail, true);
    return;
  }
  const values = probabilities.data.flat(Infinity).map(Number);
  const countries = codes.data
    .flat(Infinity)
    .map((code, index) => ({ code: String(code), name: countryName(String(code)), probability: values[index] }))
    .sort((a, b) => b.probability - a.probability);
  showTable(countries);
  showChart(countries.slice(0, TOP));
  const version = answer.model_version;
  $("model-version").textContent = version ? `model version ${version}` : "";
  setPrediction("result", `Where ${song.name || song.spotify_id} will chart.`);
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
  const labelWidth = 150;
  const barSpace = 270;
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
$("retry").addEventListener("click", () => chosen && predict());

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
