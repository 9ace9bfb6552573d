// The editor page: scores the question as the user types (debounced), in this page, with no request.
// `window.mleditorEditor` is the page's API (the parity test and the benchmark call it):
//   ready: Promise<void>                           the model is loaded and checked
//   score(title, body, version) -> Promise<{score, label, confidence, recommendations, model_id, out_of_distribution}>
//   offline: Promise<boolean>                      true once the service worker has cached the site
//   variant, loadMs                                the model variant in use; navigation → ready, in ms
// Any failure is a sentence in #error, never a frozen tab: input past the limits is refused before
// it is featurized (pipeline.js), and a model that does not load or match its manifest says so.
import { InvalidInputError, loadEditor } from "./pipeline.js";

const DEBOUNCE_MS = 150;
const $ = (id) => document.getElementById(id);
const site = new URL("./", location.href);
const variants = (document.body.dataset.variants || "int8").split(/\s+/).filter(Boolean);
const wanted = new URLSearchParams(location.search).get("variant");
const variant = variants.includes(wanted) ? wanted : (document.body.dataset.defaultVariant || variants[0]);
// One wasm thread by default: it measured faster than several for this model (BENCHMARKS.md), and needs no
// cross-origin isolation. ?threads=N tries more where the host sends COOP/COEP (ort falls back to 1 otherwise).
const threads = Math.max(1, Math.min(16, Number(new URLSearchParams(location.search).get("threads")) || 1));

let editor = null;
let pending = 0;
let timer = 0;

function show(id, text) {
  const element = $(id);
  element.textContent = text;
  element.hidden = !text;
}

function render(result) {
  const score = $("score");
  score.textContent = result.score.toFixed(2);
  score.className = result.score >= 0.6 ? "good" : result.score <= 0.4 ? "bad" : "";
  $("label").textContent = result.label;
  $("confidence").textContent = result.confidence;
  const list = $("recommendations");
  list.replaceChildren(...result.recommendations.map((rec) => {
    const item = document.createElement("li");
    item.className = "recommendation";
    item.dataset.feature = rec.feature;
    item.textContent = rec.message;
    if (rec.gain !== null && rec.gain !== undefined) {
      const gain = document.createElement("span");
      gain.className = "gain";
      gain.textContent = `+${rec.gain.toFixed(3)}`;
      item.append(gain);
    }
    return item;
  }));
  $("advice-heading").hidden = result.recommendations.length === 0;
  $("model").textContent = `${result.model_version} · model ${result.model_id}, run in this page`;
  $("result").hidden = false;
}

async function update() {
  const ticket = ++pending;
  const title = $("title").value;
  const body = $("body").value;
  if (!title.trim() && !body.trim()) {
    $("result").hidden = true;
    show("error", "");
    return;
  }
  try {
    const result = await editor.score(title, body, $("version").value);
    if (ticket !== pending) return;  // the user typed on: a newer score is coming
    show("error", "");
    render(result);
  } catch (error) {
    if (ticket !== pending) return;
    $("result").hidden = true;
    show("error", error instanceof InvalidInputError ? error.message : `No score: ${error.message}`);
  }
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(update, DEBOUNCE_MS);
}

function setUpVariants() {
  const select = $("variant");
  select.replaceChildren(...variants.map((name) => new Option(name, name, name === variant, name === variant)));
  select.disabled = variants.length < 2;
  select.addEventListener("change", () => {
    const next = new URL(location.href);
    next.searchParams.set("variant", select.value);
    location.assign(next);
  });
}

function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return Promise.resolve(false);
  navigator.serviceWorker.addEventListener("message", (event) => {
    const { type, message } = event.data || {};
    if (type === "storage-full") {
      show("storage", "This device's storage is full, so the editor could not be saved for offline use; it works " +
                      "while you are online. Free some space and reload to make it work offline.");
    } else if (type === "cache-failed") {
      show("storage", `The editor could not be saved for offline use (${message}); it works while you are online.`);
    }
  });
  return navigator.serviceWorker.register("sw.js")
    .then(() => navigator.serviceWorker.ready)
    .then(() => true, () => false);
}

const ready = (async () => {
  const started = performance.now();
  show("status", "Loading the model…");
  setUpVariants();
  editor = await loadEditor(site, variant, threads);
  window.mleditorEditor.loadMs = performance.now() - started;
  window.mleditorEditor.firstScoreMs = null;
})();

window.mleditorEditor = {
  ready,
  variant,
  threads,
  offline: ready.then(registerServiceWorker, () => false),  // after the model: the worker's downloads hit the HTTP cache
  async score(title, body, version = "v3") {
    await ready;
    return editor.score(title, body, version);
  },
};

ready.then(() => {
  show("status", "");
  for (const id of ["title", "body"]) $(id).addEventListener("input", schedule);
  $("version").addEventListener("change", update);
  if ($("title").value || $("body").value) update();
}, (error) => {
  show("status", "");
  show("error", `The editor cannot score here: ${error.message}`);
});
