// The scoring pipeline of mleditor/core/pipeline.py in the browser: validate → featurize → model input →
// ONE session.run → postprocess → the answer in words. Every message, limit and rule is the Python
// one (core/validation.py, core/recommend.py, core/ood.py, core/pipeline.py), so a question scored
// here gets the score, the words and the recommendations the server gives for the same variant.
//
// The body is taken as Markdown-flavoured text (the server's body_format="markdown"): the editor is
// where people write Markdown; the server's conversion of a pasted HTML body is not ported.
//
// The pure steps are exported and need no runtime; `loadEditor` fetches the bundle (manifest.json,
// meta.json, model.onnx), checks the sha256 of every byte against the manifest and opens an
// onnxruntime-web session on one wasm thread.
import {
  DENSE_FEATURES, featurizeNormalized, normalize, normalizeTitle,
} from "./featurizer.js";

export const MAX_TITLE_CHARS = 300;
export const MAX_BODY_CHARS = 50_000;
export const MODEL_VERSIONS = Object.freeze(["v1", "v2", "v3"]);
export const MIN_GAIN = 0.005;
export const MAX_RECOMMENDATIONS = 5;
export const SHORT_QUESTION_WORDS = 20;
export const MIN_WORDS_FOR_PROSE_ADVICE = 20;
export const UNUSUAL_INPUT_LABEL = "unsure: unusual input";
export const ORT_VERSION = "1.30.0";
const INDEX = Object.freeze(Object.fromEntries(DENSE_FEATURES.map((name, i) => [name, i])));

/** A question the pipeline refuses, with the server's words (`InvalidInputError`). */
export class InvalidInputError extends Error {
  constructor(message) { super(message); this.name = "InvalidInputError"; }
}

/** The model or its files failed: missing, altered (hash mismatch), not loadable, or an invalid score. */
export class ModelError extends Error {
  constructor(message) { super(message); this.name = "ModelError"; }
}

// ---------------------------------------------------------------- Python's number formatting

/** `n` with thousands separators, as Python's `{n:,}` for an integer. */
export function groupThousands(digits) {
  const [whole, fraction] = String(digits).split(".");
  const sign = whole.startsWith("-") ? "-" : "";
  const grouped = whole.replace("-", "").replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return sign + grouped + (fraction === undefined ? "" : `.${fraction}`);
}

/** The exact decimal digits of a finite double: {negative, digits (no leading zeros), point (digits before the point)}. */
function exactDecimal(x) {
  const [mantissa, exponent] = Math.abs(x).toExponential(100).split("e");
  const digits = mantissa.replace(".", "").replace(/0+$/, "") || "0";
  return { negative: x < 0 || Object.is(x, -0), digits, point: Number(exponent) + 1 };
}

/** Round the digit string `digits` to `keep` digits, half to even (Python's rounding of the exact value). */
function roundDigits(digits, keep) {
  if (keep < 0) return { digits: "0", carry: false };
  if (digits.length <= keep) return { digits: digits.padEnd(keep, "0"), carry: false };
  const head = digits.slice(0, keep);
  const rest = digits.slice(keep);
  const last = keep > 0 ? Number(head[keep - 1]) : 0;
  const up = rest[0] > "5" || (rest[0] === "5" && (/[1-9]/.test(rest.slice(1)) || last % 2 === 1));
  if (!up) return { digits: head, carry: false };
  const bumped = (BigInt(head || "0") + 1n).toString().padStart(keep, "0");
  return bumped.length > keep ? { digits: bumped, carry: true } : { digits: bumped, carry: false };
}

/** Python's `f"{x:.{places}f}"` (round half to even on the exact binary value). */
export function formatFixed(x, places) {
  if (!Number.isFinite(x)) return x > 0 ? "inf" : x < 0 ? "-inf" : "nan";
  const { negative, digits, point } = exactDecimal(x);
  const whole = point + places;  // digits kept, counted from the first significant digit
  let kept;
  let shift = point;
  if (whole < 0) kept = "";
  else {
    const rounded = roundDigits(digits, whole);
    kept = rounded.digits;
    if (rounded.carry) shift += 1;
  }
  let units = shift > 0 ? kept.slice(0, shift).padEnd(shift, "0") : "0";
  let fraction = shift > 0 ? kept.slice(shift) : "0".repeat(-shift) + kept;
  fraction = fraction.padEnd(places, "0").slice(0, places);
  units = units.replace(/^0+(?=\d)/, "");
  const text = places > 0 ? `${units}.${fraction}` : units;
  return negative ? `-${text}` : text;
}

/** Python's `f"{x:.{precision}g}"`. */
export function formatGeneral(x, precision) {
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  const { negative, digits, point } = exactDecimal(x);
  const rounded = roundDigits(digits, precision);
  const exponent = point - 1 + (rounded.carry ? 1 : 0);
  const significant = rounded.carry ? rounded.digits.slice(0, precision) : rounded.digits;
  const sign = negative ? "-" : "";
  if (exponent < -4 || exponent >= precision) {
    const mantissa = `${significant[0]}.${significant.slice(1)}`.replace(/\.?0+$/, "");
    return `${sign}${mantissa}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
  }
  return sign + formatFixed(Math.abs(x), Math.max(0, precision - 1 - exponent)).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "");
}

const fmt = (v) => (Math.abs(v - pyRound(v)) < 1e-9 || Math.abs(v) >= 10 ? formatFixed(v, 0) : formatFixed(v, 1));
const percent = (v) => `${formatFixed(v * 100, 0)}%`;

/** Python's `round(x)` of a float: to the nearest integer, half to even. */
export function pyRound(x) {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

// ---------------------------------------------------------------- step 1: validate (core/validation.py)

/** `value` as text UTF-8 can carry (no lone surrogate), or InvalidInputError naming the field. */
export function checkText(name, value) {
  if (typeof value !== "string") {
    const kind = value === null ? "NoneType" : typeof value === "number" ? "float" : typeof value;
    throw new InvalidInputError(`${name} must be text, got ${kind}`);
  }
  const lone = value.search(/\p{Cs}/u);
  if (lone >= 0) {
    const start = [...value.slice(0, lone)].length;  // Python counts code points, a lone surrogate as one
    throw new InvalidInputError(`${name} is not valid Unicode (a lone surrogate at character ${start}), so not valid ` +
                                "UTF-8; send UTF-8 text");
  }
  return value;
}

/** The number of code points (Python's `len`), counting without building an array. */
export function codePoints(text) {
  let count = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) { count--; i++; }
    }
  }
  return count;
}

const VISIBLE = /[^\p{Zs}\p{Zl}\p{Zp}\p{Cc}\p{Cf}]/u;
const tooLong = (name, length, limit) =>
  new InvalidInputError(`${name} is ${groupThousands(length)} characters; the limit is ${groupThousands(limit)}`);

/** Python's `prepare_question(title, body, body_format="markdown")`: the normalized question, or InvalidInputError. */
export function prepareQuestion(title, body, limits = { maxTitleChars: MAX_TITLE_CHARS, maxBodyChars: MAX_BODY_CHARS }) {
  checkText("title", title);
  checkText("body", body);
  // Refuse huge input before normalizing it: a 5 MB paste costs one count, never a featurizer pass.
  if (body.length > 4 * limits.maxBodyChars) {
    const length = codePoints(body);
    if (length > 4 * limits.maxBodyChars) throw tooLong("body", length, limits.maxBodyChars);
  }
  if (title.length > 4 * limits.maxBodyChars) {  // the server normalizes any title; here a huge one would freeze the tab
    const length = codePoints(title);
    if (length > 4 * limits.maxBodyChars) throw tooLong("title", length, limits.maxTitleChars);
  }
  const cleanTitle = normalizeTitle(title);
  const cleanBody = normalize(body);
  if (!VISIBLE.test(cleanTitle) && !VISIBLE.test(cleanBody)) {
    throw new InvalidInputError("nothing to score: the title and the body are both empty (or only invisible " +
                                "characters: spaces, zero-width or format characters)");
  }
  const titleLength = codePoints(cleanTitle);
  if (titleLength > limits.maxTitleChars) throw tooLong("title", titleLength, limits.maxTitleChars);
  const bodyLength = codePoints(cleanBody);
  if (bodyLength > limits.maxBodyChars) throw tooLong("body", bodyLength, limits.maxBodyChars);
  return { title: cleanTitle, body: cleanBody };
}

/** The version, or the server's message for one that does not exist. */
export function checkVersion(version) {
  if (!MODEL_VERSIONS.includes(version)) {
    const shown = typeof version === "string" ? `'${version}'` : String(version);
    throw new InvalidInputError(`unknown model version ${shown.slice(0, 40)}; choose one of ${MODEL_VERSIONS.join(", ")}`);
  }
  return version;
}

// ---------------------------------------------------------------- recommendations (core/recommend.py)

export const PHRASES = Object.freeze({
  title_has_question_mark: () => "Add a question mark: your title does not ask anything",
  title_starts_with_question_word: () => "Start your title with a question word (how, what, why, which...)",
  title_words: (c, t) =>
    `${c < t ? "Lengthen" : "Shorten"} your title: ${fmt(c)} words, well-received questions use about ${fmt(t)}`,
  title_uppercase_ratio: (c) => `Don't write your title in capitals: ${percent(c)} of its letters are upper case`,
  body_words: (c, t) =>
    `${c < t ? "Add detail" : "Cut it down"}: your question has ${fmt(c)} words, well-received questions have about ${fmt(t)}`,
  words_per_sentence: (c, t) =>
    `${c > t ? "Shorten" : "Combine"} your sentences: ${fmt(c)} words on average, well-received questions average ${fmt(t)}`,
  syllables_per_word: (c, t) =>
    `Use simpler words: ${formatFixed(c, 2)} syllables per word, well-received questions use ${formatFixed(t, 2)}`,
  repetition_ratio: (c, t) => `Vary your wording: ${percent(c)} of your longer words are repeats (typical: ${percent(t)})`,
  paragraphs: (c, t) =>
    `${c < t ? "Break your text into paragraphs" : "Merge some paragraphs"}: ${fmt(c)} now, well-received questions have about ${fmt(t)}`,
  list_items: (c, t) => `Use a list for steps or options: ${fmt(c)} list items now, typical ${fmt(t)}`,
  code_blocks: (c, t) =>
    `${c < t ? "Show the relevant code or output" : "Keep only the relevant code"}: ${fmt(c)} code blocks now, typical ${fmt(t)}`,
  links: (c, t) => `Link to what you have read or tried: ${fmt(c)} links now, typical ${fmt(t)}`,
  images: (c, t) => `${c < t ? "Add" : "Remove"} images: ${fmt(c)} now, typical ${fmt(t)}`,
  has_greeting_or_thanks: () => "Remove greetings and thanks: get straight to the question",
  body_exclamations: (c, t) => `Drop the exclamation marks: ${fmt(c)} now, typical ${fmt(t)}`,
  body_question_marks: (c, t) =>
    `${c < t ? "State your question explicitly, ending with ?" : "Ask one focused question"}: ${fmt(c)} question marks now, typical ${fmt(t)}`,
});
export const ACTIONABLE_FEATURES = Object.freeze(Object.keys(PHRASES));
const DIRECTIONS = Object.freeze({
  title_has_question_mark: "up", title_starts_with_question_word: "up", title_uppercase_ratio: "down",
  words_per_sentence: "down", syllables_per_word: "down", repetition_ratio: "down", paragraphs: "up",
  list_items: "up", links: "up", has_greeting_or_thanks: "down", body_exclamations: "down",
});
const NEEDS_PROSE = new Set(["words_per_sentence", "syllables_per_word", "repetition_ratio", "paragraphs", "list_items"]);
const BODY_PROSE = ["body_words", "body_chars", "body_sentences", "words_per_sentence", "chars_per_word",
  "syllables_per_word", "flesch_reading_ease", "repetition_ratio", "paragraphs"];

/** Whether moving `feature` from current to typical is advice a person could follow. */
export function isSensibleEdit(feature, current, typical, bodyWords) {
  if (Math.abs(current - typical) <= 1e-9) return false;
  if (NEEDS_PROSE.has(feature) && bodyWords < MIN_WORDS_FOR_PROSE_ADVICE) return false;
  const direction = DIRECTIONS[feature] ?? "both";
  return direction === "both" || (direction === "up") === (typical > current);
}

const flesch = (wps, spw) => Math.min(Math.max(206.835 - 1.015 * wps - 84.6 * spw, -100.0), 121.22);

/** The dense vector with `feature` set to `value` and the features derived from it kept consistent. */
export function counterfactual(dense, feature, value, typical) {
  const row = Float64Array.from(dense);
  const old = row[INDEX[feature]];
  row[INDEX[feature]] = value;
  const words = row[INDEX.body_words];
  if (feature === "body_words" && old === 0 && typical) {
    for (const name of BODY_PROSE) row[INDEX[name]] = typical[name];
    return row;
  }
  if (feature === "words_per_sentence" && value > 0) {
    if (words) row[INDEX.body_sentences] = words / value;
  } else if (feature === "body_words" && old > 0) {
    const scale = value / old;
    for (const name of ["body_chars", "body_sentences", "paragraphs"]) {
      row[INDEX[name]] = Math.max(1.0, pyRound(row[INDEX[name]] * scale));
    }
  }
  if (["words_per_sentence", "syllables_per_word", "body_words"].includes(feature) && row[INDEX.body_words] > 0) {
    row[INDEX.flesch_reading_ease] = flesch(row[INDEX.words_per_sentence], row[INDEX.syllables_per_word]);
  }
  return row;
}

/** Row 0 is the question itself; one more row per actionable feature that differs from typical. */
export function counterfactualBatch(dense, typical) {
  const words = dense[INDEX.body_words];
  const features = ACTIONABLE_FEATURES.filter((name) => isSensibleEdit(name, dense[INDEX[name]], typical[name], words));
  return { features, rows: [Float64Array.from(dense), ...features.map((name) => counterfactual(dense, name, typical[name], typical))] };
}

/** v3: the edits whose counterfactual score beats the question's own score, best first. */
export function modelRecommendations(dense, typical, scores, features) {
  const base = scores[0];
  const found = [];
  features.forEach((name, i) => {
    const gain = scores[i + 1] - base;
    if (gain >= MIN_GAIN) {
      const current = dense[INDEX[name]];
      found.push({ feature: name, message: PHRASES[name](current, typical[name]), current, typical: typical[name],
                   gain: Number(gain.toFixed(4)) });
    }
  });
  found.sort((a, b) => (b.gain || 0) - (a.gain || 0));  // stable, as Python's sort
  return found.slice(0, MAX_RECOMMENDATIONS);
}

const V1_RULES = [
  ["title_has_question_mark", 1, (v) => v < 1],
  ["title_words", 8, (v) => v < 4 || v > 20],
  ["title_uppercase_ratio", 0.1, (v, d) => v > 0.5 && d.title_chars > 8],
  ["body_words", 120, (v) => v < 40 || v > 800],
  ["words_per_sentence", 17, (v) => v > 25],
  ["syllables_per_word", 1.45, (v, d) => v > 1.75 && d.body_words >= 20],
  ["repetition_ratio", 0.25, (v, d) => v > 0.45 && d.body_words >= 40],
  ["paragraphs", 3, (v, d) => v <= 1 && d.body_words > 150],
  ["has_greeting_or_thanks", 0, (v) => v > 0],
  ["body_exclamations", 0, (v) => v > 2],
];

/** v1: one recommendation per failed rule, in the rules' order of importance. */
export function ruleRecommendations(dense) {
  const named = Object.fromEntries(DENSE_FEATURES.map((name, i) => [name, dense[i]]));
  return V1_RULES.filter(([feature, , fails]) => fails(named[feature], named))
    .map(([feature, target]) => ({ feature, message: PHRASES[feature](named[feature], target), current: named[feature],
                                   typical: target, gain: null }));
}

// ---------------------------------------------------------------- out of distribution (core/ood.py)

const BOUNDED_FEATURES = new Set(["title_has_question_mark", "title_starts_with_question_word", "title_uppercase_ratio",
  "repetition_ratio", "code_char_ratio", "has_greeting_or_thanks", "title_words_in_body_ratio"]);
const MARGIN = 1.0;

/** meta.json's `dense_ranges` as limits per feature (null for a model without them). */
export function featureRanges(denseRanges) {
  if (!denseRanges) return null;
  return DENSE_FEATURES.map((name) => {
    const { min, q001, q999, max } = denseRanges.features[name];
    const span = q999 - q001;
    return { name, min, max, lower: Math.min(min, q001 - MARGIN * span), upper: Math.max(max, q999 + MARGIN * span) };
  });
}

const oodNumber = (v) => (Math.abs(v) >= 100 ? groupThousands(formatFixed(v, 0)) : formatGeneral(v, 3));

/** The features of one dense vector far outside the training ranges, with their description. */
export function outOfDistribution(dense, ranges) {
  if (!ranges) return [];
  return ranges.flatMap((range, i) => {
    const value = dense[i];
    if (BOUNDED_FEATURES.has(range.name) || !(value > range.upper || value < range.lower)) return [];
    const describe = value > range.max ? `${range.name} ${oodNumber(value)} vs at most ${oodNumber(range.max)}`
      : `${range.name} ${oodNumber(value)} vs at least ${oodNumber(range.min)}`;
    return [{ feature: range.name, value, lowest: range.min, highest: range.max, describe }];
  });
}

// ---------------------------------------------------------------- words (core/pipeline.py)

/** The score in words. */
export function describeLabel(score) {
  if (score >= 0.6) return "likely well received";
  if (score <= 0.4) return "unlikely to be well received";
  return "could go either way";
}

/** The label and the confidence in words, with the caveats that apply. */
export function describeConfidence(score, version, unusual, bodyWords) {
  const label = unusual.length ? UNUSUAL_INPUT_LABEL : describeLabel(score);
  let text = `${label} (${formatFixed(score, 2)})`;
  if (unusual.length) {
    text += `; this question is unlike the training questions (${unusual.map((u) => u.describe).join(", ")}): ` +
            "the score is not reliable";
  }
  if (bodyWords < SHORT_QUESTION_WORDS) text += "; the model is less sure for very short questions";
  if (version === "v1") text += "; v1 uses fixed rules, not a trained model";
  return { label, confidence: text };
}

// ---------------------------------------------------------------- steps 3-5 around a model

/** The rows the model scores for `version`: none for v1, the question for v2, plus its counterfactuals for v3. */
export function modelInput(features, version, typical) {
  if (version === "v1") return { version, features, rows: [], counterfactuals: [] };
  if (version === "v2") return { version, features, rows: [features.dense], counterfactuals: [] };
  const { features: names, rows } = counterfactualBatch(features.dense, typical);
  return { version, features, rows, counterfactuals: names };
}

/** The feeds of one batched call: every row has the question's n-gram ids (width ≥ 1, 0 = padding). */
export function modelFeeds(input) {
  const ids = input.features.ngramIds;
  const width = Math.max(1, ids.length);
  const count = input.rows.length;
  const idData = new BigInt64Array(count * width);
  const dense = new Float32Array(count * DENSE_FEATURES.length);
  input.rows.forEach((row, r) => {
    for (let i = 0; i < ids.length; i++) idData[r * width + i] = BigInt(ids[i]);
    dense.set(row, r * DENSE_FEATURES.length);  // float64 → float32, as numpy's astype
  });
  return { ids: idData, idShape: [count, width], dense, denseShape: [count, DENSE_FEATURES.length] };
}

/** Step 5: range-check the scores, attach recommendations, say what it means. */
export function postprocess(input, scores, model) {
  const { version, features } = input;
  const dense = features.dense;
  const unusual = outOfDistribution(dense, model.ranges);
  let score;
  let recommendations = [];
  if (version === "v1") {
    recommendations = ruleRecommendations(dense);
    const calibration = model.meta.v1_calibration;
    score = calibration[Math.min(recommendations.length, calibration.length - 1)];
  } else {
    const values = Array.from(scores ?? []);
    if (values.length !== input.rows.length || values.some((s) => !Number.isFinite(s) || s < 0 || s > 1)) {
      throw new ModelError("the model returned an invalid score (not a probability)");
    }
    score = values[0];
    if (version === "v3") recommendations = modelRecommendations(dense, model.meta.typical_values, values, input.counterfactuals);
  }
  const { label, confidence } = describeConfidence(score, version, unusual, dense[INDEX.body_words]);
  return { score, label, confidence, recommendations, model_id: model.meta.model_id, model_version: version,
           out_of_distribution: unusual.map((u) => u.feature) };
}

// ---------------------------------------------------------------- loading the bundle

async function sha256Hex(bytes) {
  if (!globalThis.crypto?.subtle) {
    throw new ModelError("this page cannot check the model's integrity here (no crypto.subtle): open it over " +
                         "HTTPS or from localhost");
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function fetchBytes(url, what) {
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new ModelError(`could not download the ${what} (${url}): ${error.message}; check the connection and reload`);
  }
  if (!response.ok) throw new ModelError(`could not download the ${what} (${url}): HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** A file of the bundle whose sha256 and size match the manifest, or ModelError. */
async function checkedFile(base, manifest, name) {
  const expected = manifest.files?.[name];
  if (!expected) throw new ModelError(`the model's manifest does not list ${name}; rebuild the site`);
  const bytes = await fetchBytes(new URL(name, base), name);
  const actual = await sha256Hex(bytes);
  if (actual !== expected.sha256 || bytes.length !== expected.bytes) {
    throw new ModelError(`${name} does not match its manifest (sha256 ${actual.slice(0, 12)}…, ${bytes.length} bytes; ` +
                         `expected ${expected.sha256.slice(0, 12)}…, ${expected.bytes} bytes): the file is altered or ` +
                         "truncated; reload, or rebuild the site");
  }
  return bytes;
}

/** The bundle at `modelBase` (a URL ending in /), checked: {manifest, meta, ranges, modelBytes}. */
export async function loadBundle(modelBase) {
  const manifestBytes = await fetchBytes(new URL("manifest.json", modelBase), "model manifest");
  const manifest = JSON.parse(new TextDecoder().decode(manifestBytes));
  const meta = JSON.parse(new TextDecoder().decode(await checkedFile(modelBase, manifest, "meta.json")));
  const modelBytes = await checkedFile(modelBase, manifest, manifest.model_file ?? "model.onnx");
  return { manifest, meta, ranges: featureRanges(meta.dense_ranges), modelBytes };
}

/** Open an onnxruntime-web session (wasm, one thread) on the model's bytes. */
export async function openSession(ort, modelBytes, threads = 1) {
  if (typeof WebAssembly !== "object") throw new ModelError("this browser has no WebAssembly, which the model needs");
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = false;
  try {
    return await ort.InferenceSession.create(modelBytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
  } catch (error) {
    throw new ModelError(`the model could not be loaded: ${String(error.message ?? error).split("\n")[0]}`);
  }
}

/** An editor around a session and a checked bundle: `score(title, body, version)` as the server answers it. */
export function makeEditor(ort, session, bundle) {
  const model = { meta: bundle.meta, ranges: bundle.ranges };
  return {
    variant: bundle.manifest.variant,
    model_id: bundle.meta.model_id,
    async score(title, body, version = "v3") {
      checkVersion(version);
      const question = prepareQuestion(title, body);
      const features = featurizeNormalized(question.title, question.body);
      const input = modelInput(features, version, bundle.meta.typical_values);
      let scores = null;
      if (input.rows.length) {
        const feeds = modelFeeds(input);
        const output = await session.run({
          ngram_ids: new ort.Tensor("int64", feeds.ids, feeds.idShape),
          dense: new ort.Tensor("float32", feeds.dense, feeds.denseShape),
        }, ["score"]);
        scores = output.score.data;
      }
      return postprocess(input, scores, model);
    },
  };
}

/** Load the runtime and the bundle under `siteBase` and return the editor (ModelError says what failed). */
export async function loadEditor(siteBase, variant, threads = 1) {
  if (typeof WebAssembly !== "object") throw new ModelError("this browser has no WebAssembly, which the model needs");
  let ort;
  try {
    ort = await import(new URL(`ort-${ORT_VERSION}/ort.wasm.min.mjs`, siteBase).href);
  } catch (error) {
    throw new ModelError(`the wasm runtime could not be loaded: ${error.message}`);
  }
  const bundle = await loadBundle(new URL(`model/${variant}/`, siteBase));
  const session = await openSession(ort, bundle.modelBytes, threads);
  return makeEditor(ort, session, bundle);
}
