// The browser door measured in Debian's Chromium: the code is mleditor/advise/browser_probe.mjs, which
// `mleditor advise` shares (one piece of code for both); this file runs it for benchmarks/bench_browser.py.
//
//   MLEDITOR_URL=http://127.0.0.1:PORT BENCH_QUESTIONS=questions.json node benchmarks/bench_browser.mjs
import "../mleditor/advise/browser_probe.mjs";
