// The in-browser editor of a running `mleditor serve` (or of a static export) in Debian's Chromium:
// typing scores with no request (and no request ever carries the question's text), the score and the
// advice change as the text does, and after one visit the editor scores offline.
// Usage: EDITOR_URL=http://127.0.0.1:PORT/editor/ node editor.test.mjs
// Writes a screenshot to $SCREENSHOT (default ../../test-artifacts/editor.png) and prints one JSON line of
// figures. Exits non-zero on failure.
import { launchChromium } from "./chromium.mjs";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

const url = process.env.EDITOR_URL;
const screenshot = process.env.SCREENSHOT ?? "../../test-artifacts/editor.png";
if (!url) {
  console.error("set EDITOR_URL to the editor's address (http://127.0.0.1:PORT/editor/)");
  process.exit(2);
}
const TITLE = "how 2 fix my beer??";
const BODY = "it tastes bad. i tried everything!!! thanks";
const SECRET = "Zanzibarquokka";  // a word to look for in every request

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const browser = await launchChromium();
const figures = {};
let failed = false;
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error") problems.push(`${m.text()} (${m.location().url})`); });
  page.on("pageerror", (error) => problems.push(String(error)));
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  let wire = 0;
  cdp.on("Network.loadingFinished", (event) => { wire += event.encodedDataLength; });

  const started = Date.now();
  await page.goto(url);
  await page.evaluate(() => window.mleditorEditor.ready);
  figures.ready_ms = Date.now() - started;
  figures.load_ms_in_page = await page.evaluate(() => Math.round(window.mleditorEditor.loadMs));
  check(await page.evaluate(() => window.mleditorEditor.offline), "the service worker did not install");
  figures.first_visit_wire_bytes = wire;

  // Privacy: from here on, record every request; typing must make none.
  const requests = [];
  page.on("request", (request) => requests.push(request));
  await page.fill("#title", TITLE);
  await page.fill("#body", `${BODY} ${SECRET}`);
  await page.waitForSelector("#result:not([hidden])", { timeout: 10_000 });
  const first = (await page.textContent("#score")).trim();
  const firstAdvice = await page.locator(".recommendation").count();
  check(/^\d\.\d\d$/.test(first), `no score shown: ${JSON.stringify(first)}`);
  check(firstAdvice >= 1, "no recommendation shown");
  const longer = "How do I stop my bottle-conditioned pale ale from tasting sour after three weeks?";
  const detail = "I brew 20 L batches of pale ale and prime with 120 g of sugar.\n\nAfter three weeks in the " +
    "bottle the beer tastes sour and a little like vinegar. I sanitize with Star San and boil the priming " +
    "sugar first.\n\n- Could this be an infection?\n- Is the priming rate too high?\n\nWhat should I check first?";
  await page.fill("#title", longer);
  await page.fill("#body", `${detail} ${SECRET}`);
  await page.waitForFunction((old) => document.querySelector("#score").textContent.trim() !== old, first,
    { timeout: 10_000 });
  const second = (await page.textContent("#score")).trim();
  figures.scores = [first, second];
  for (const request of requests) {
    const seen = [request.url(), JSON.stringify(await request.allHeaders()), request.postData() ?? ""].join(" ");
    check(!seen.includes(SECRET) && !seen.includes(encodeURIComponent(SECRET)), `a request carried the text: ${request.url()}`);
  }
  check(requests.length === 0, `typing made ${requests.length} request(s): ${requests.map((r) => r.url()).join(", ")}`);

  // Bad input: a clear message, no frozen tab.
  const big = await page.evaluate(async () => {
    const started = performance.now();
    try { await window.mleditorEditor.score("Flat beer?", "a".repeat(5_000_000)); } catch (error) {
      return { message: error.message, ms: performance.now() - started };
    }
    return { message: null };
  });
  check(big.message === "body is 5,000,000 characters; the limit is 50,000", `5 MB body: ${big.message}`);
  figures.refuse_5mb_ms = Math.round(big.ms);
  const lone = await page.evaluate(() => window.mleditorEditor.score("Flat\ud800 beer?", "").catch((e) => e.message));
  check(/^title is not valid Unicode \(a lone surrogate at character 4\)/.test(lone), `lone surrogate: ${lone}`);

  // Per-score latency (featurize + one batched session.run + postprocess), v3.
  figures.latency_ms = await page.evaluate(async ([title, body]) => {
    const times = [];
    for (let i = 0; i < 300; i++) {
      const started = performance.now();
      await window.mleditorEditor.score(title + (i % 7), body, "v3");
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    const long = "Word after word, sentence upon sentence. ".repeat(1200).slice(0, 49_000);
    const longTimes = [];
    for (let i = 0; i < 30; i++) {
      const started = performance.now();
      await window.mleditorEditor.score(title, long + i, "v3");
      longTimes.push(performance.now() - started);
    }
    longTimes.sort((a, b) => a - b);
    const at = (list, q) => Math.round(list[Math.min(list.length - 1, Math.floor(q * list.length))] * 1000) / 1000;
    return { typical_p50: at(times, 0.5), typical_p99: at(times, 0.99), long_p50: at(longTimes, 0.5),
             long_p99: at(longTimes, 0.99) };
  }, [longer, detail]);

  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });

  // Repeat visit: everything from the service worker's cache.
  wire = 0;
  const again = Date.now();
  await page.reload();
  await page.evaluate(() => window.mleditorEditor.ready);
  figures.repeat_ready_ms = Date.now() - again;
  figures.repeat_visit_wire_bytes = wire;

  // Offline after one visit.
  await context.setOffline(true);
  await page.reload();
  await page.evaluate(() => window.mleditorEditor.ready);
  const offline = await page.evaluate(() => window.mleditorEditor.score("Why does my beer taste flat?",
    "I bottled it two weeks ago with priming sugar.", "v3"));
  check(offline.score > 0 && offline.score < 1, `no score offline: ${JSON.stringify(offline)}`);
  await context.setOffline(false);
  check(problems.length === 0, `the page logged errors (a CSP violation?): ${problems.join(" | ")}`);
  // A model altered on the way, and a browser without WebAssembly: a sentence in the page, no score.
  const altered = await browser.newContext();
  const tampered = await altered.newPage();
  await tampered.route("**/model.onnx", (route) => route.fulfill({ body: Buffer.from("not a model") }));
  await tampered.goto(url);
  await tampered.waitForSelector("#error:not([hidden])", { timeout: 10_000 });
  const mismatch = await tampered.textContent("#error");
  check(mismatch.includes("model.onnx does not match its manifest"), `altered model: ${mismatch}`);
  await altered.close();
  const old = await browser.newContext();
  await old.addInitScript(() => { delete globalThis.WebAssembly; });
  const noWasm = await old.newPage();
  await noWasm.goto(url);
  await noWasm.waitForSelector("#error:not([hidden])", { timeout: 10_000 });
  const said = await noWasm.textContent("#error");
  check(said.includes("no WebAssembly"), `no WebAssembly: ${said}`);
  await old.close();
  figures.screenshot = screenshot;
  console.log(JSON.stringify(figures));
} catch (error) {
  console.error(String(error && error.stack || error));
  console.error(JSON.stringify(figures));
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
