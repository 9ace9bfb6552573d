// The browser scores as Python does: for real questions, `window.mleditorEditor.score` on /editor of a
// running `mleditor serve` equals the answers tests/browser/test_browser_parity.py computed with the same
// model file, within 1e-5, and v3's recommendations list the same features in the same order.
//
// Two modes, both on $MLEDITOR_URL + $EDITOR_PATH (default /editor/; `?variant=fp32` picks the other model):
//   PARITY_CAPTURE=DIR node parity.test.mjs    load the page once; save every model file (.onnx/.ort) and
//                                              meta.json it fetched into DIR, and list them in DIR/capture.json
//   PARITY_EXPECTED=FILE node parity.test.mjs  score FILE's questions in the page and compare (exit 1 on a miss)
// The last line of stdout is a JSON summary. Service workers are blocked: every fetch shows, and none is cached.
import { launchChromium } from "./chromium.mjs";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";

const baseUrl = process.env.MLEDITOR_URL;
const editorPath = process.env.EDITOR_PATH ?? "/editor/";
const captureDir = process.env.PARITY_CAPTURE;
const expectedFile = process.env.PARITY_EXPECTED;
const TOLERANCE = Number(process.env.PARITY_TOLERANCE ?? 1e-5);
const READY_TIMEOUT_MS = 60_000;
const MODEL_FILE = /\.(onnx|ort)$/;
if (!baseUrl || (!captureDir && !expectedFile)) {
  console.error("set MLEDITOR_URL and one of PARITY_CAPTURE (a folder) or PARITY_EXPECTED (a file)");
  process.exit(2);
}

/** The page, loaded and ready; `fetched` collects every response (url → body bytes) of model and meta files. */
async function openEditor(browser, fetched) {
  const context = await browser.newContext({ serviceWorkers: "block" });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(String(error)));
  page.on("console", (message) => {
    // A missing favicon is the browser's guess, not the page's request.
    if (message.type() === "error" && !message.location().url.endsWith("/favicon.ico")) problems.push(message.text());
  });
  const pending = [];
  context.on("response", (response) => {
    const path = new URL(response.url()).pathname;
    if (response.ok() && (MODEL_FILE.test(path) || basename(path) === "meta.json")) {
      pending.push(response.body().then((body) => fetched.set(response.url(), body)));
    }
  });
  await page.goto(baseUrl + editorPath);
  await page.waitForFunction(() => window.mleditorEditor?.ready, null, { timeout: READY_TIMEOUT_MS });
  await page.evaluate(() => window.mleditorEditor.ready);
  await Promise.all(pending);
  if (problems.length) throw new Error(`the page logged errors: ${problems.join(" | ")}`);
  return page;
}

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

function saveCapture(fetched) {
  mkdirSync(captureDir, { recursive: true });
  const files = [...fetched].map(([url, body]) => {
    const name = basename(new URL(url).pathname);
    writeFileSync(join(captureDir, name), body);
    return { url, name, bytes: body.length, sha256: sha256(body) };
  });
  const models = files.filter((file) => MODEL_FILE.test(file.name));
  if (models.length !== 1) throw new Error(`the page fetched ${models.length} model files, expected 1: ${JSON.stringify(files)}`);
  writeFileSync(join(captureDir, "capture.json"), JSON.stringify({ files }, null, 1));
  return { mode: "capture", files };
}

/** Why a recommendation list differs, or null when it lists the same features in the same order. */
function recommendationMiss(browserRecs, expected) {
  const got = browserRecs.map((rec) => rec.feature);
  return JSON.stringify(got) === JSON.stringify(expected.features) ? null
    : `recommendations ${JSON.stringify(got)}, Python ${JSON.stringify(expected.features)}`;
}

async function compare(page, fetched) {
  const expected = JSON.parse(readFileSync(expectedFile, "utf8"));
  const loaded = [...fetched].filter(([url]) => MODEL_FILE.test(new URL(url).pathname)).map(([, body]) => sha256(body));
  if (loaded.length !== 1 || loaded[0] !== expected.model_sha256) {
    throw new Error(`the page loaded model ${JSON.stringify(loaded)}, Python scored with ${expected.model_sha256}`);
  }
  const answers = await page.evaluate(async (questions) => {
    const out = [];
    for (const q of questions) out.push(await window.mleditorEditor.score(q.title, q.body, "v3"));
    return out;
  }, expected.questions.map(({ title, body }) => ({ title, body })));
  const misses = [];
  let worst = 0;
  let borderline = 0;
  expected.questions.forEach((question, i) => {
    const answer = answers[i];
    const delta = Math.abs(answer.score - question.score);
    worst = Math.max(worst, delta);
    if (!(delta <= TOLERANCE)) misses.push(`${question.key}: score ${answer.score}, Python ${question.score} (Δ ${delta})`);
    const miss = recommendationMiss(answer.recommendations, question.recommendations);
    // A gain within the tolerance of MIN_GAIN, of a rounding step or of another gain may order either way.
    if (miss && question.recommendations.borderline) borderline += 1;
    else if (miss) misses.push(`${question.key}: ${miss}`);
  });
  const variant = await page.evaluate(() => window.mleditorEditor.variant ?? null);
  return { mode: "compare", variant, questions: answers.length, max_abs_delta_score: worst, borderline_orders: borderline,
           misses: misses.length, first_misses: misses.slice(0, 10) };
}

const browser = await launchChromium();
let failed = false;
try {
  const fetched = new Map();
  const page = await openEditor(browser, fetched);
  const summary = captureDir ? saveCapture(fetched) : await compare(page, fetched);
  failed = Boolean(summary.misses);
  console.log(JSON.stringify(summary));
} catch (error) {
  console.error(String(error?.stack ?? error));
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
