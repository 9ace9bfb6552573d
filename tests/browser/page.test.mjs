// Types a question into the v3 page of a running `mleditor serve`, submits it, and checks that
// a score and at least one recommendation appear. Usage: MLEDITOR_URL=http://127.0.0.1:PORT node page.test.mjs
// Writes a screenshot to $SCREENSHOT (default ../../test-artifacts/v3-page.png). Exits non-zero on failure.
import { launchChromium } from "./chromium.mjs";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

const baseUrl = process.env.MLEDITOR_URL;
const screenshot = process.env.SCREENSHOT ?? "../../test-artifacts/v3-page.png";
if (!baseUrl) {
  console.error("set MLEDITOR_URL to the server's address");
  process.exit(2);
}

const browser = await launchChromium();
let failed = false;
try {
  const page = await browser.newPage();
  // The pages run under a strict Content-Security-Policy: a blocked script or style shows up here.
  const problems = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`${message.text()} (${message.location().url})`);
  });
  page.on("pageerror", (error) => problems.push(String(error)));
  await page.goto(`${baseUrl}/v3`);
  await page.fill("#title", "how 2 fix my beer??");
  await page.fill("#body", "it tastes bad. i tried everything!!! thanks");
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
  await page.waitForSelector("#score", { timeout: 10_000 });
  const score = (await page.textContent("#score")).trim();
  const recommendations = await page.locator(".recommendation").count();
  const confidence = (await page.textContent("#confidence")).trim();
  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ score, confidence, recommendations, screenshot }));
  if (!/\d/.test(score)) throw new Error(`no score shown: ${JSON.stringify(score)}`);
  if (recommendations < 1) throw new Error("no recommendation shown");
  if (problems.length) throw new Error(`the page logged errors (a CSP violation?): ${problems.join(" | ")}`);
} catch (error) {
  console.error(String(error));
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
