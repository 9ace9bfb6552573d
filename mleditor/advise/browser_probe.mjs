// The browser door measured in Debian's Chromium (playwright-core from tests/browser): bytes over the wire on
// the first and the repeat visit, navigation → first score (cold and warm), per-score latency through
// `window.mleditorEditor.score` (typical and 50,000-character questions), the JS heap after 1,000 scores, and
// the same questions through the streaming API (POST /predict/v3 from Node) for comparison.
//
//   MLEDITOR_URL=http://127.0.0.1:PORT BENCH_QUESTIONS=questions.json node mleditor/advise/browser_probe.mjs
//
// benchmarks/bench_browser.py (through benchmarks/bench_browser.mjs, which imports this file) and `mleditor advise`
// (mleditor/advise/measure/browser.py) start the server, write the questions and read the one JSON object this
// prints. playwright-core is required from tests/browser, or from the package.json PLAYWRIGHT_FROM names.
// Bytes are counted at the TCP level: the page is loaded through a loopback forwarder that adds up
// every byte the server sends (headers, compressed bodies, the service worker's own fetches), so nothing the
// browser caches or fetches from a worker escapes the count.
import { createRequire } from "node:module";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const playwrightFrom = process.env.PLAYWRIGHT_FROM ?? new URL("../../tests/browser/package.json", import.meta.url);
const require = createRequire(playwrightFrom);
const { chromium } = require("playwright-core");

const baseUrl = process.env.MLEDITOR_URL;
const editorPath = process.env.EDITOR_PATH ?? "/editor/";
const questionsFile = process.env.BENCH_QUESTIONS;
const HEAP_SCORES = Number(process.env.BENCH_HEAP_SCORES ?? 1000);
const LONG_SCORES = Number(process.env.BENCH_LONG_SCORES ?? 50);
const API_CALLS = Number(process.env.BENCH_API_CALLS ?? 500);
const WARMUP = 20;
const READY_TIMEOUT_MS = 60_000;
const SERVICE_WORKER_TIMEOUT_MS = 15_000;
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 5000);
if (!baseUrl || !questionsFile) {
  console.error("set MLEDITOR_URL (a running `mleditor serve`) and BENCH_QUESTIONS (what bench_browser.py writes)");
  process.exit(2);
}
const { typical, long } = JSON.parse(readFileSync(questionsFile, "utf8"));

/** A loopback TCP forwarder to the server that counts the bytes the server sends; `.take()` reads and resets. */
async function countingForwarder(target) {
  let received = 0;
  let requests = [];
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    upstream.on("data", (chunk) => { received += chunk.length; });
    client.on("data", (chunk) => {  // the request lines, to say what the bytes were for
      const line = /^([A-Z]+ \S+) HTTP/.exec(chunk.toString("latin1", 0, 300));
      if (line) requests.push(line[1]);
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => { client.destroy(); upstream.destroy(); };
    client.on("error", close);
    upstream.on("error", close);
    client.on("close", close);
    upstream.on("close", close);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    take() { const taken = { bytes: received, requests }; received = 0; requests = []; return taken; },
    close: () => new Promise((resolve) => { server.close(resolve); server.closeAllConnections?.(); }),
  };
}

// Runs in the page before its scripts: when the page sets window.mleditorEditor, score one question as soon
// as it is ready and note the time since navigation began (performance.now() counts from the time origin).
function firstScoreHook(question) {
  let editor;
  Object.defineProperty(window, "mleditorEditor", {
    configurable: true,
    get: () => editor,
    set(value) {
      editor = value;
      Promise.resolve(value.ready).then(() => value.score(question.title, question.body, "v3")).then(
        () => { window.__benchFirstScoreMs = performance.now(); },
        (error) => { window.__benchFirstScoreError = String(error); });
    },
  });
}

/** One visit: open the editor in `context`, wait for the first score; the ms it took and the bytes it cost. */
async function visit(context, forwarder) {
  const page = await context.newPage();
  forwarder.take();
  await page.goto(forwarder.url + editorPath);
  await page.waitForFunction(() => window.__benchFirstScoreMs || window.__benchFirstScoreError || null, null,
                             { timeout: READY_TIMEOUT_MS, polling: 10 });
  const { ms, error } = await page.evaluate(() => ({ ms: window.__benchFirstScoreMs, error: window.__benchFirstScoreError }));
  if (error) throw new Error(`the first score failed: ${error}`);
  // Let a service worker finish installing (it caches the page, the runtime and the model) before counting.
  const worker = await page.evaluate((timeoutMs) => {
    const offline = window.mleditorEditor.offline ?? navigator.serviceWorker?.ready;
    const timeout = new Promise((resolve) => setTimeout(() => resolve("none"), timeoutMs));
    return offline ? Promise.race([Promise.resolve(offline).then((ok) => (ok ? "active" : "failed")), timeout]) : "none";
  }, SERVICE_WORKER_TIMEOUT_MS);
  await page.waitForLoadState("networkidle");
  // The browser checks sw.js for an update after a navigation, on its own schedule: wait for that too.
  await page.waitForTimeout(SETTLE_MS);
  return { page, firstScoreMs: ms, ...forwarder.take(), serviceWorker: worker };
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

function summary(timesMs) {
  const sorted = [...timesMs].sort((a, b) => a - b);
  return { n: sorted.length, p50_ms: percentile(sorted, 50), p99_ms: percentile(sorted, 99),
           mean_ms: sorted.reduce((a, b) => a + b, 0) / sorted.length };
}

/** Time `count` scores in the page, cycling through `questions`, after WARMUP untimed ones. */
async function scoreTimes(page, questions, count) {
  return page.evaluate(async ({ questions, count, warmup }) => {
    const editor = window.mleditorEditor;
    for (let i = 0; i < warmup; i++) await editor.score(questions[i % questions.length].title, questions[i % questions.length].body, "v3");
    const times = new Array(count);
    for (let i = 0; i < count; i++) {
      const q = questions[i % questions.length];
      const start = performance.now();
      await editor.score(q.title, q.body, "v3");
      times[i] = performance.now() - start;
    }
    return times;
  }, { questions, count, warmup: WARMUP });
}

async function heapUsed(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("HeapProfiler.collectGarbage");
  const { usedSize, totalSize } = await cdp.send("Runtime.getHeapUsage");
  await cdp.detach();
  return { used: usedSize, total: totalSize };
}

/** The same questions through the streaming API, one request at a time from Node (keep-alive). */
async function streamingApi(questions, count) {
  const times = [];
  try {
    for (let i = 0; i < count + WARMUP; i++) {
      const q = questions[i % questions.length];
      const start = performance.now();
      const answer = await fetch(`${baseUrl}/predict/v3`, {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ title: q.title, body: q.body }),
      });
      if (!answer.ok) throw new Error(`POST /predict/v3 answered ${answer.status}`);
      await answer.json();
      if (i >= WARMUP) times.push(performance.now() - start);
    }
  } catch (error) {
    return { error: String(error) };
  }
  return summary(times);
}

// "Cold" is the browser's cache, not the server's: one plain GET first, so a server that builds the site on its
// first request is not timed doing it.
await (await fetch(baseUrl + editorPath)).arrayBuffer();
const profile = mkdtempSync(join(tmpdir(), "mleditor-bench-browser-"));
const forwarder = await countingForwarder(new URL(baseUrl));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync"],
});
let failed = false;
try {
  await context.addInitScript(firstScoreHook, typical[0]);
  const first = await visit(context, forwarder);
  await first.page.close();
  const repeat = await visit(context, forwarder);
  const page = repeat.page;
  const heapBefore = await heapUsed(page);
  const typicalTimes = await scoreTimes(page, typical, HEAP_SCORES);
  const heapAfter = await heapUsed(page);
  const longTimes = await scoreTimes(page, long, LONG_SCORES);
  console.log(JSON.stringify({
    editor: editorPath,
    chromium: context.browser()?.version() ?? null,
    first_visit: { bytes: first.bytes, requests: first.requests, first_score_ms: first.firstScoreMs,
                   service_worker: first.serviceWorker },
    repeat_visit: { bytes: repeat.bytes, requests: repeat.requests, first_score_ms: repeat.firstScoreMs,
                    service_worker: repeat.serviceWorker },
    typical: { ...summary(typicalTimes), chars_median: summary(typical.map((q) => q.title.length + q.body.length)).p50_ms },
    long: { ...summary(longTimes), chars: long[0].title.length + long[0].body.length },
    heap: { before_bytes: heapBefore.used, after_bytes: heapAfter.used, scores: HEAP_SCORES },
    streaming_api: { typical: await streamingApi(typical, API_CALLS), long: await streamingApi(long, LONG_SCORES) },
  }));
} catch (error) {
  console.error(String(error?.stack ?? error));
  failed = true;
} finally {
  await context.close();
  await forwarder.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
