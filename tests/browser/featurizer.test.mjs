// featurizer.js equals the Python reference: the golden vectors, and (with $FEATURIZER_CASES, the file
// tests/browser/make_differential_cases.py writes) over 10,000 generated inputs and every code point.
//
//   node --test tests/browser/featurizer.test.mjs
//   FEATURIZER_CASES=/tmp/cases.json node --test tests/browser/featurizer.test.mjs
//
// Ids must be equal; dense values within 1e-12 (relative), and the number not bit-identical is
// reported (it is 0: the same float operations in the same order).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as F from "../../mleditor/browser/static/featurizer.js";

const GOLDEN = fileURLToPath(new URL("../golden/features_v1.0.json", import.meta.url));
const CASES = process.env.FEATURIZER_CASES;
const TOLERANCE = 1e-12;

/** tests/golden/regenerate.py `build`, plus "codepoints" (make_differential_cases.py). */
function build(value) {
  if (typeof value === "string") return value;
  if (value.codepoints) {
    const [low, high, sep, before, after] = value.codepoints;
    const parts = [];
    for (let code = low; code <= high; code++) {
      if (code < 0xd800 || code > 0xdfff) parts.push(before + String.fromCodePoint(code) + after);
    }
    return parts.join(sep);
  }
  if (value.repeat) return build(value.repeat[0]).repeat(value.repeat[1]);
  if (value.numbered) {
    const [word, count] = value.numbered;
    return Array.from({ length: count }, (_, i) => `${word}${i}`).join(" ");
  }
  if (value.concat) return value.concat.map(build).join("");
  const [prefix, text, count] = value.nested;
  return Array.from({ length: count }, (_, i) => prefix.repeat(i) + text).join("\n");
}

/** What differs between featurize's result and the expected ids and dense values ([] when nothing). */
function differences(got, ids, dense) {
  const problems = [];
  const gotIds = Array.from(got.ngramIds);
  if (gotIds.length !== ids.length || gotIds.some((id, i) => id !== ids[i])) {
    const missing = ids.filter((id) => !got.ngramIds.includes(id)).slice(0, 5);
    const extra = gotIds.filter((id) => !ids.includes(id)).slice(0, 5);
    problems.push(`ids: ${gotIds.length} vs ${ids.length} expected; missing ${missing}; extra ${extra}`);
  }
  F.DENSE_FEATURES.forEach((name, i) => {
    const [a, b] = [got.dense[i], dense[i]];
    if (!(Math.abs(a - b) <= TOLERANCE * Math.max(1, Math.abs(b)))) problems.push(`${name}: ${a} vs ${b}`);
  });
  return problems;
}

const notBitIdentical = (got, dense) => F.DENSE_FEATURES.filter((_, i) => !Object.is(got.dense[i], dense[i])).length;

test("murmurhash3_32 gives the spec's test vector", () => {
  assert.equal(F.murmurhash3_32("hello"), 0x248bfa47);
  assert.equal(F.murmurhash3_32(new TextEncoder().encode("hello"), 0), 0x248bfa47);
  assert.equal(F.bucket("hello"), 64072);
  assert.equal(F.SPEC_VERSION, "1.0");
  assert.equal(F.DENSE_FEATURES.length, 24);
});

test("every golden vector: the same ids and dense values", () => {
  const golden = JSON.parse(readFileSync(GOLDEN, "utf8"));
  assert.equal(golden.spec_version, F.SPEC_VERSION);
  const failures = [];
  let inexact = 0;
  for (const vector of golden.vectors) {
    const got = F.featurize(build(vector.title), build(vector.body));
    const dense = F.DENSE_FEATURES.map((name) => vector.dense[name]);
    const problems = differences(got, vector.ngram_ids, dense);
    if (problems.length) failures.push(`${vector.name}: ${problems.join("; ")}`);
    inexact += notBitIdentical(got, dense);
    assert.ok(got.ngramIds instanceof Int32Array && got.dense instanceof Float64Array && got.dense.length === 24);
  }
  assert.deepEqual(failures, []);
  console.log(`golden: ${golden.vectors.length} vectors, ${inexact} dense values not bit-identical`);
});

test("lone surrogates neither crash nor change what is around them", () => {
  const withLone = F.featurize("x\ud800 y", "a\udfffb [\udbff](u)");
  const withReplacement = F.featurize("x\ufffd y", "a\ufffdb [\ufffd](u)");
  assert.deepEqual(Array.from(withLone.ngramIds), Array.from(withReplacement.ngramIds));
  assert.deepEqual(Array.from(withLone.dense), Array.from(withReplacement.dense));
  assert.equal(F.normalize("\ud800x\udfff"), "\ud800x\udfff");
  assert.throws(() => F.featurize(null, ""), TypeError);
});

const differential = CASES ? JSON.parse(readFileSync(CASES, "utf8")) : null;
const skip = CASES ? false : "set FEATURIZER_CASES to a file from tests/browser/make_differential_cases.py";

test("every differential case: the same ids and dense values as the reference", { skip }, () => {
  assert.equal(differential.spec_version, F.SPEC_VERSION);
  assert.deepEqual(differential.dense_features, [...F.DENSE_FEATURES]);
  const failures = [];
  let inexact = 0;
  let chars = 0;
  const start = performance.now();
  for (const c of differential.cases) {
    const [title, body] = [build(c.title), build(c.body)];
    chars += title.length + body.length;
    const got = F.featurize(title, body);
    const problems = differences(got, c.ngram_ids, c.dense);
    if (problems.length) failures.push(`${c.name}: ${problems.join("; ")}`);
    inexact += notBitIdentical(got, c.dense);
  }
  const seconds = (performance.now() - start) / 1000;
  console.log(`differential: ${differential.cases.length} cases (${(chars / 1e6).toFixed(1)} M UTF-16 units) in ` +
              `${seconds.toFixed(2)} s, ${failures.length} failing, ${inexact} dense values not bit-identical`);
  assert.deepEqual(failures.slice(0, 20), []);
});

test("every code point: NFKC and str.lower() as Python 3.11 (Unicode 14.0) has them", { skip }, () => {
  const facts = differential.code_points;
  const expected = (pairs) => new Map(pairs.map(([code, text]) => [code, text]));
  const nfkc = expected(facts.nfkc);
  const lower = expected(facts.lower);
  const failures = [];
  for (let code = 0; code < 0x110000; code++) {
    const char = String.fromCodePoint(code);
    const wantLower = lower.get(code) ?? char;
    if (F.lower(char) !== wantLower) failures.push(`lower U+${code.toString(16)}: ${F.lower(char)} vs ${wantLower}`);
    if (code >= 0xd800 && code <= 0xdfff) continue;
    const want = nfkc.get(code) ?? char;
    if (F.nfkc(char) !== want) failures.push(`nfkc U+${code.toString(16)}`);
  }
  const marks = "\u0316\u0301".repeat(16);
  for (const [code, want] of facts.nfkc_before_marks) {
    if (F.nfkc(String.fromCodePoint(code) + marks) !== want) failures.push(`nfkc U+${code.toString(16)} + 32 marks`);
  }
  console.log(`code points: ${nfkc.size} change under NFKC, ${lower.size} under lower(), ` +
              `${facts.nfkc_before_marks.length} checked before 32 marks; ${failures.length} failing`);
  assert.deepEqual(failures.slice(0, 20), []);
});

// FEATURES.md §10: each pathological body of 50,000 characters takes at most MAX_RATIO times an ordinary
// body of that size, in the same run (a quadratic step makes it hundreds: the engine's own NFKC takes
// over a second on the out-of-order marks). Only ratios, with a wide margin, each the best of a few runs.
const SIZE = 50000;
const MAX_RATIO = 25;
const fill = (unit, tail = "") => unit.repeat(Math.floor((SIZE - tail.length) / unit.length)) + tail;
function lines(make) {
  const out = [];
  for (let total = 0; total < SIZE; total += out[out.length - 1].length + 1) out.push(make(out.length));
  return out.join("\n").slice(0, SIZE);
}

function ordinaryBody() {
  const words = "how what why the a to of in is it not my beer hop yeast bottle brew carbonation sugar".split(" ");
  let seed = 1;
  const pick = () => words[(seed = (seed * 1103515245 + 12345) % 2147483648) % words.length];
  const sentence = () => Array.from({ length: 12 }, pick).join(" ") + ". ";
  const blocks = [];
  for (let size = 0; size < SIZE; size += blocks[blocks.length - 1].length + 2) {
    blocks.push([sentence().repeat(3), `See [the notes](https://example.org/${pick()}) and run \`brew --${pick()}\`.`,
                 `- ${sentence()}\n- ${sentence()}`, "```\nfor bottle in batch:\n    prime(bottle)\n```"].join("\n\n"));
  }
  return blocks.join("\n\n").slice(0, SIZE);
}

const PATHOLOGICAL = {
  "open brackets": fill("["), "bracket then parenthesis": fill("]("), "links never closed": fill("[a]("),
  "image openers": fill("!["), "backticks": fill("`"), "backtick before each letter": fill("`a"), "stars": fill("*"),
  "full stops then a letter": fill(".", "x"), "mixed terminators then a letter": fill("?!", "x"),
  "nested quote markers": fill("> ", "x"), "nested list markers": fill("- ", "x"),
  "deeply nested list": lines((depth) => "  ".repeat(depth % 200) + "- item"),
  "deeply nested quotes": lines((depth) => "> ".repeat(depth % 200) + "quoted"),
  "one long word": fill("a"), "full-width brackets": fill("\uff3b"), "one letter per line": fill("a\n"),
  "combining marks out of canonical order": "a" + "\u0301".repeat(SIZE / 2) + "\u0316".repeat(SIZE / 2 - 1),
  "alternating combining marks": fill("\u0301\u0316"), "runs of 31 marks": fill("a" + "\u0301\u0316".repeat(15) + "\u0301"),
  "marks unassigned in 14.0": fill("a\u{1e4ec}"), "fences": fill("```\n"), "bare url schemes": fill("http://"),
  "sigmas between case-ignorables": fill("\u03a3'"), "one sigma after case-ignorables": "a" + "'".repeat(SIZE - 2) + "\u03a3",
};

function bestMs(body, runs = 3) {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    F.featurize("Pathological", body);
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

test("a pathological body takes at most a few times an ordinary one (linear time, §10)", () => {
  const ordinary = ordinaryBody();
  assert.equal(ordinary.length, SIZE);
  for (const body of [ordinary, ...Object.values(PATHOLOGICAL)]) F.featurize("warm up", body.slice(0, 100));
  let baseline = bestMs(ordinary, 5);
  const slow = {};
  let worst = null;
  for (const [name, body] of Object.entries(PATHOLOGICAL)) {
    let ms = bestMs(body);
    if (ms > MAX_RATIO * baseline) { // a second look, in case the machine was busy
      baseline = Math.min(baseline, bestMs(ordinary, 5));
      ms = Math.min(ms, bestMs(body));
    }
    if (ms > MAX_RATIO * baseline) slow[name] = Math.round(ms / baseline);
    if (!worst || ms / baseline > worst[1]) worst = [name, ms / baseline];
  }
  console.log(`linear time: an ordinary body of ${SIZE} characters in ${baseline.toFixed(1)} ms; the slowest shape, ` +
              `${worst[0]}, ${worst[1].toFixed(1)} times that`);
  assert.deepEqual(slow, {});
});
