// Opens an advice report (`mleditor.advise.report.render_html`) from file:// in Chromium with every
// request that is not file:// aborted, and reports what rendered. Usage:
//   REPORT=/path/to/report.html SCREENSHOT=/path/to/shot.png node advice_report.test.mjs
// Prints one JSON line: the charts (each SVG's box), the requests attempted, the console errors.
// Exits non-zero only when the page could not be opened; the Python test judges the rest.
import { launchChromium } from "./chromium.mjs";
import { pathToFileURL } from "node:url";

const report = process.env.REPORT;
const screenshot = process.env.SCREENSHOT;
if (!report || !screenshot) {
  console.error("set REPORT to the report's path and SCREENSHOT to where the PNG goes");
  process.exit(2);
}

const browser = await launchChromium();
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const attempted = [];
  // Everything but the page itself is refused: a report that needs the network shows up here.
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith("file://")) return route.continue();
    attempted.push(url);
    return route.abort();
  });
  const page = await context.newPage();
  const problems = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`${message.text()} (${message.location().url})`);
  });
  page.on("pageerror", (error) => problems.push(String(error)));
  page.on("requestfailed", (request) => {
    if (!attempted.includes(request.url())) attempted.push(request.url());
  });
  await page.goto(pathToFileURL(report).href, { waitUntil: "load" });
  const charts = await page.$$eval("figure.chart", (figures) => figures.map((figure) => {
    const svg = figure.querySelector("svg");
    const box = svg ? svg.getBoundingClientRect() : null;
    return {
      chart: figure.dataset.chart,
      svg: Boolean(svg),
      width: box ? box.width : 0,
      height: box ? box.height : 0,
      shapes: svg ? svg.querySelectorAll("path, use, rect, line, polyline, circle").length : 0,
      texts: svg ? svg.querySelectorAll("text").length : 0,
    };
  }));
  const recommendation = (await page.textContent("#recommendation"))?.replace(/\s+/g, " ").trim() ?? "";
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ charts, attempted, problems, recommendation, scrollWidth, screenshot }));
} catch (error) {
  console.error(String(error));
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
