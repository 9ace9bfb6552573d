// The featurizer of FEATURES.md (spec 1.0) in JavaScript: a question's title and body → hashed n-gram
// ids + 24 dense values, the same ids and bit-identical dense values as the Python reference
// (mleditor/core/features.py, text_structure.py), which tests/browser/featurizer.test.mjs checks on
// the golden vectors and on generated inputs. Plain ES modules with no dependencies; §3, the body's
// structure, is text_structure.js, as it is text_structure.py in Python.
//
// Unicode facts come from unicode14.js, generated from Python 3.11 (Unicode 14.0), never from the
// engine's ICU, which knows a newer Unicode (FEATURES.md §11): letters and numbers, Lu, lowercasing
// (with final sigma), combining classes; NFKC is the engine's, except that it is never shown a code
// point unassigned in 14.0 and that long runs of marks are ordered here (linear time, §10).
//
// Strings are UTF-16: a surrogate pair is one code point; `featurize` reads a lone surrogate as
// U+FFFD, which every step treats as Python treats a lone surrogate (one code point, no letter, a
// starter that composes with nothing), so its output is the reference's. `normalize` keeps them.
import { ASCII_WHITESPACE, length, parseBody } from "./text_structure.js";
import * as U14 from "./unicode14.js";

export { parseBody };

export const SPEC_VERSION = "1.0";
export const UNICODE_VERSION = U14.UNICODE_VERSION;
export const N_BUCKETS = 65536;
export const MAX_BODY_TOKENS_FOR_NGRAMS = 5000;
export const MAX_NGRAMS = 4096;
export const DENSE_FEATURES = Object.freeze([
  "title_chars", "title_words", "title_has_question_mark", "title_starts_with_question_word",
  "title_uppercase_ratio", "body_chars", "body_words", "body_sentences", "words_per_sentence",
  "chars_per_word", "syllables_per_word", "flesch_reading_ease", "repetition_ratio", "code_blocks",
  "inline_code", "links", "images", "list_items", "paragraphs", "code_char_ratio",
  "body_question_marks", "body_exclamations", "has_greeting_or_thanks", "title_words_in_body_ratio",
]);
export const QUESTION_WORDS = new Set(
  ("what why how when where which who whom whose is are am can could should would will " +
   "do does did has have had was were may might must shall " +
   "que quoi pourquoi comment quand où quel quelle quels quelles qui est").split(" "));
export const GREETING_WORDS = new Set("hi hello hey thanks thank thx please merci bonjour salut".split(" "));

// ---------------------------------------------------------------- tables (unicode14.js)

/** "gap,length-1,…" (base 36) → Int32Array [low0, high0, low1, high1, …]; `width` numbers per range. */
function decodeRanges(text, width = 2) {
  const numbers = text ? text.split(",").map((n) => parseInt(n, 36)) : [];
  const ranges = new Int32Array((numbers.length / width) * 2);
  const extra = [];
  let end = 0;
  for (let i = 0, r = 0; i < numbers.length; i += width, r += 2) {
    ranges[r] = end + numbers[i];
    ranges[r + 1] = ranges[r] + numbers[i + 1];
    end = ranges[r + 1] + 1;
    if (width > 2) extra.push(numbers[i + 2]);
  }
  return width > 2 ? { ranges, values: extra } : ranges;
}

/** The index of the range holding `code`, or -1 (binary search). */
function rangeIndex(ranges, code) {
  let lo = 0;
  let hi = ranges.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (code < ranges[2 * mid]) hi = mid - 1;
    else if (code > ranges[2 * mid + 1]) lo = mid + 1;
    else return mid;
  }
  return -1;
}

const inRanges = (ranges, code) => rangeIndex(ranges, code) >= 0;
const hex = (code) => `\\u{${code.toString(16)}}`;

/** A regex class body (for the `u` flag) of the ranges. */
function classOf(ranges) {
  let out = "";
  for (let i = 0; i < ranges.length; i += 2) {
    out += ranges[i] === ranges[i + 1] ? hex(ranges[i]) : `${hex(ranges[i])}-${hex(ranges[i + 1])}`;
  }
  return out;
}

/** Code points (any order) as ranges. */
function rangesOf(codes) {
  const out = [];
  for (const code of [...codes].sort((a, b) => a - b)) {
    if (out.length && code <= out[out.length - 1] + 1) out[out.length - 1] = Math.max(out[out.length - 1], code);
    else out.push(code, code);
  }
  return Int32Array.from(out);
}

function union(a, b) {
  const pairs = [];
  for (const r of [a, b]) for (let i = 0; i < r.length; i += 2) pairs.push([r[i], r[i + 1]]);
  pairs.sort((x, y) => x[0] - y[0]);
  const out = [];
  for (const [lo, hi] of pairs) {
    if (out.length && lo <= out[out.length - 1] + 1) out[out.length - 1] = Math.max(out[out.length - 1], hi);
    else out.push(lo, hi);
  }
  return Int32Array.from(out);
}

const ALNUM = decodeRanges(U14.ALNUM);
const LETTER = decodeRanges(U14.LETTER);
const UPPERCASE_LETTER = decodeRanges(U14.UPPERCASE_LETTER);
const UNASSIGNED = decodeRanges(U14.UNASSIGNED);
const CCC = decodeRanges(U14.COMBINING_CLASS, 3);
const CASE_IGNORABLE = decodeRanges(U14.CASE_IGNORABLE);
const CASED = decodeRanges(U14.CASED);

const TOKEN = new RegExp(`[${classOf(ALNUM)}]+`, "gu");
const HAS_TOKEN = new RegExp(`[${classOf(ALNUM)}]`, "u");
const UNASSIGNED_RUN = new RegExp(`[${classOf(UNASSIGNED)}]+`, "gu");
const HAS_UNASSIGNED = new RegExp(`[${classOf(UNASSIGNED)}]`, "u");
// NFKC sorts a run of marks by insertion: quadratic (ICU too). Text with a run at least this long of
// code points that decompose to marks only is normalized in steps (§10).
const LONG_MARK_RUN = 32;
const MARK_LIKE = union(CCC.ranges, decodeRanges(U14.MARK_LIKE_EXTRA));
const HAS_LONG_MARK_RUN = new RegExp(`[${classOf(MARK_LIKE)}]{${LONG_MARK_RUN}}`, "u");
const NON_ASCII = /[^\x00-\x7f]/;

const LOWERCASE = new Map(Object.entries(U14.LOWERCASE_SPECIAL).map(([code, text]) => [String.fromCodePoint(+code), text]));
{
  const numbers = U14.LOWERCASE.split(",").map((n) => parseInt(n, 36));
  let start = 0;
  for (let i = 0; i < numbers.length; i += 4) {
    start += numbers[i];
    for (let k = 0; k < numbers[i + 1]; k++) {
      const code = start + k * numbers[i + 2];
      LOWERCASE.set(String.fromCodePoint(code), String.fromCodePoint(code + numbers[i + 3]));
    }
  }
}
const HAS_UPPER = new RegExp(`[${classOf(rangesOf([...LOWERCASE.keys()].map((c) => c.codePointAt(0))))}]`, "gu");

const combiningClass = (code) => {
  const i = rangeIndex(CCC.ranges, code);
  return i < 0 ? 0 : CCC.values[i];
};

// ---------------------------------------------------------------- §2 normalization

const LEADING_BLANK_LINES = /^(?:[ \t\f\v]*\n)+/;

/** The engine's normalization, never shown a code point unassigned in Unicode 14.0: those are starters
 * that compose with nothing there, so they split the text into parts normalized apart. */
function libraryNormalize(text, form) {
  if (!HAS_UNASSIGNED.test(text)) return text.normalize(form);
  let out = "";
  let end = 0;
  for (const match of text.matchAll(UNASSIGNED_RUN)) {
    out += text.slice(end, match.index).normalize(form) + match[0];
    end = match.index + match[0].length;
  }
  return out + text.slice(end).normalize(form);
}

const nfkdCache = new Map();

function nfkdChar(char) {
  let out = nfkdCache.get(char);
  if (out === undefined) {
    out = HAS_UNASSIGNED.test(char) ? char : char.normalize("NFKD");
    if (nfkdCache.size > 4096) nfkdCache.clear();
    nfkdCache.set(char, out);
  }
  return out;
}

/** NFKC as its definition composes it: decompose each character, stable-sort each run of marks, NFC. */
function nfkcInSteps(text) {
  let decomposed = "";
  for (const char of text) decomposed += nfkdChar(char);
  const chars = [...decomposed];
  const out = [];
  for (let i = 0; i < chars.length;) {
    if (combiningClass(chars[i].codePointAt(0)) === 0) {
      out.push(chars[i++]);
      continue;
    }
    const run = [];
    for (; i < chars.length && combiningClass(chars[i].codePointAt(0)) !== 0; i++) {
      run.push([combiningClass(chars[i].codePointAt(0)), chars[i]]);
    }
    run.sort((a, b) => a[0] - b[0]); // Array.prototype.sort is stable, as canonical ordering is
    for (const [, char] of run) out.push(char);
  }
  return libraryNormalize(out.join(""), "NFC");
}

/** Unicode NFKC of Unicode 14.0 (§2 step 1, §11), in linear time (§10). */
export function nfkc(text) {
  if (!NON_ASCII.test(text)) return text;
  if (HAS_LONG_MARK_RUN.test(text)) return nfkcInSteps(text);
  return libraryNormalize(text, "NFKC");
}

function stripEnd(text) {
  let end = text.length;
  while (end > 0 && ASCII_WHITESPACE.has(text[end - 1])) end--;
  return text.slice(0, end);
}

function stripStart(text) {
  let start = 0;
  while (start < text.length && ASCII_WHITESPACE.has(text[start])) start++;
  return text.slice(start);
}

/** §2: NFKC, CRLF/CR → LF, strip trailing ASCII whitespace and leading blank lines. */
export function normalize(text) {
  let out = nfkc(text);
  if (out.includes("\r")) out = out.replaceAll("\r\n", "\n").replaceAll("\r", "\n");
  return stripEnd(out).replace(LEADING_BLANK_LINES, "");
}

/** §2: a title is normalized like a body, then stripped of ASCII whitespace at both ends. */
export function normalizeTitle(title) {
  return stripStart(normalize(title));
}

// ---------------------------------------------------------------- §4 lowercase and tokens

function codePointBefore(text, index) {
  const low = text.charCodeAt(index - 1);
  if (index >= 2 && low >= 0xdc00 && low <= 0xdfff) {
    const high = text.charCodeAt(index - 2);
    if (high >= 0xd800 && high <= 0xdbff) return (high - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000;
  }
  return low;
}

/** Python's final-sigma rule: Σ after a cased letter (case-ignorables skipped) and not before one. */
function lowerSigma(text, index) {
  let before = -1;
  for (let j = index; j > 0;) {
    const code = codePointBefore(text, j);
    j -= code > 0xffff ? 2 : 1;
    if (!inRanges(CASE_IGNORABLE, code)) {
      before = code;
      break;
    }
  }
  let final = before >= 0 && inRanges(CASED, before);
  if (final) {
    for (let j = index + 1; j < text.length;) {
      const code = text.codePointAt(j);
      j += code > 0xffff ? 2 : 1;
      if (!inRanges(CASE_IGNORABLE, code)) {
        final = !inRanges(CASED, code);
        break;
      }
    }
  }
  return final ? "\u03c2" : "\u03c3";
}

/** Python 3.11's `str.lower()`: full case mapping of Unicode 14.0, final sigma included. */
export function lower(text) {
  if (!NON_ASCII.test(text)) return text.toLowerCase();
  return text.replace(HAS_UPPER, (char, index) => (char === "\u03a3" ? lowerSigma(text, index) : LOWERCASE.get(char)));
}

/** §4: lowercase, then every maximal run of letters and numbers (`[^\W_]+`) is a token. */
export function tokenize(text) {
  return lower(text).match(TOKEN) ?? [];
}

/** Length in code points. */

// ---------------------------------------------------------------- §5, §6 sentences and syllables

const SENTENCE_BREAK = /(?<![.!?])[.!?]+(?=[ \t\n]|$)|\u3002+|\n/gu;

function countSentences(prose) {
  let count = 0;
  let start = 0;
  SENTENCE_BREAK.lastIndex = 0;
  for (let match; (match = SENTENCE_BREAK.exec(prose)) !== null;) {
    if (HAS_TOKEN.test(prose.slice(start, match.index))) count++;
    start = match.index + match[0].length;
  }
  return count + (HAS_TOKEN.test(prose.slice(start)) ? 1 : 0);
}

const VOWEL_RUN = /[aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœ]+/gu;
const syllableCache = new Map();

/** §6: vowel groups, minus a silent final "e" (not after "l"), at least 1. */
export function syllables(token) {
  let count = syllableCache.get(token);
  if (count === undefined) {
    let groups = (token.match(VOWEL_RUN) ?? []).length;
    if (groups >= 2 && token.endsWith("e") && !token.endsWith("le")) groups--;
    count = Math.max(1, groups);
    if (syllableCache.size > 200000) syllableCache.clear();
    syllableCache.set(token, count);
  }
  return count;
}

// ---------------------------------------------------------------- §7 hashed n-grams

/** MurmurHash3 x86 32-bit of `bytes` (a Uint8Array, or a string: its UTF-8), unsigned. */
export function murmurhash3_32(bytes, seed = 0) {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  return murmur(data, data.length, seed);
}

function murmur(data, n, seed) {
  let h = seed | 0;
  const blocks = n & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  switch (n & 3) {
    case 3: k ^= data[blocks + 2] << 16; // falls through
    case 2: k ^= data[blocks + 1] << 8; // falls through
    case 1:
      k ^= data[blocks];
      k = Math.imul(k, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      h ^= Math.imul(k, 0x1b873593);
  }
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const encoder = new TextEncoder();
let utf8 = new Uint8Array(1024);
const bucketCache = new Map();

/** §7: MurmurHash3 (seed 0) of the n-gram's UTF-8, mod N_BUCKETS, plus 1. */
export function bucket(ngram) {
  let id = bucketCache.get(ngram);
  if (id === undefined) {
    if (utf8.length < ngram.length * 3) utf8 = new Uint8Array(ngram.length * 3);
    const { written } = encoder.encodeInto(ngram, utf8);
    id = (murmur(utf8, written, 0) % N_BUCKETS) + 1;
    if (bucketCache.size > 1000000) bucketCache.clear();
    bucketCache.set(ngram, id);
  }
  return id;
}

/** §7: bucket ids of title then body n-grams, first occurrences kept, capped, sorted. */
export function ngramIds(titleTokens, bodyTokens) {
  const ids = new Set();
  const add = (prefix, tokens) => {
    for (let i = 0; i < tokens.length && ids.size < MAX_NGRAMS; i++) ids.add(bucket(prefix + tokens[i]));
    for (let i = 1; i < tokens.length && ids.size < MAX_NGRAMS; i++) {
      ids.add(bucket(`${prefix}${tokens[i - 1]} ${tokens[i]}`));
    }
  };
  add("t:", titleTokens);
  add("b:", bodyTokens.length > MAX_BODY_TOKENS_FOR_NGRAMS ? bodyTokens.slice(0, MAX_BODY_TOKENS_FOR_NGRAMS) : bodyTokens);
  return Int32Array.from(ids).sort();
}

// ---------------------------------------------------------------- §8 dense features

const ratio = (numerator, denominator) => (denominator ? numerator / denominator : 0);

function uppercaseRatio(title) {
  let letters = 0;
  let upper = 0;
  for (const char of title) {
    const code = char.codePointAt(0);
    if (inRanges(LETTER, code)) {
      letters++;
      if (inRanges(UPPERCASE_LETTER, code)) upper++;
    }
  }
  return ratio(upper, letters);
}

function count(text, char) {
  let n = 0;
  for (let i = text.indexOf(char); i >= 0; i = text.indexOf(char, i + 1)) n++;
  return n;
}

/** §8 on a normalized title and body: the dense vector and both token lists. */
export function denseFeatures(title, body) {
  const structure = parseBody(body);
  const titleTokens = tokenize(title);
  const bodyTokens = tokenize(structure.prose);
  const nWords = bodyTokens.length;
  const nSentences = countSentences(structure.prose);
  const wordsPerSentence = ratio(nWords, nSentences);
  let syllableSum = 0;
  let charSum = 0;
  const longTokens = [];
  for (const token of bodyTokens) {
    syllableSum += syllables(token);
    const n = length(token);
    charSum += n;
    if (n >= 4) longTokens.push(token);
  }
  const syllablesPerWord = ratio(syllableSum, nWords);
  let flesch = 0;
  if (nWords) {
    flesch = 206.835 - 1.015 * wordsPerSentence - 84.6 * syllablesPerWord;
    flesch = Math.min(Math.max(flesch, -100), 121.22);
  }
  const bodyVocab = new Set(bodyTokens);
  const titleVocab = new Set(titleTokens.filter((token) => length(token) >= 3));
  let shared = 0;
  for (const token of titleVocab) if (bodyVocab.has(token)) shared++;
  let greeting = 0;
  for (const word of GREETING_WORDS) if (bodyVocab.has(word)) greeting = 1;
  const bodyChars = length(body);
  const dense = Float64Array.of(
    length(title),
    titleTokens.length,
    title.includes("?") ? 1 : 0,
    titleTokens.length > 0 && QUESTION_WORDS.has(titleTokens[0]) ? 1 : 0,
    uppercaseRatio(title),
    bodyChars,
    nWords,
    nSentences,
    wordsPerSentence,
    ratio(charSum, nWords),
    syllablesPerWord,
    flesch,
    longTokens.length ? 1 - ratio(new Set(longTokens).size, longTokens.length) : 0,
    structure.codeBlocks,
    structure.inlineCode,
    structure.links,
    structure.images,
    structure.listItems,
    structure.paragraphs,
    Math.min(1, ratio(structure.codeChars, bodyChars)),
    count(structure.prose, "?"),
    count(structure.prose, "!"),
    greeting,
    ratio(shared, titleVocab.size),
  );
  return { dense, titleTokens, bodyTokens };
}

// ---------------------------------------------------------------- the featurizer

const LONE_SURROGATE = /[\ud800-\udfff]/gu; // with the `u` flag, only a surrogate that is not half of a pair

function wellFormed(text) {
  if (typeof text !== "string") throw new TypeError(`a title and a body must be strings; got ${typeof text}`);
  if (typeof text.isWellFormed === "function") return text.isWellFormed() ? text : text.toWellFormed();
  return text.replace(LONE_SURROGATE, "\ufffd");
}

/** Featurize text already normalized by §2: `{ngramIds: Int32Array (sorted, 1..65536), dense: Float64Array(24)}`. */
export function featurizeNormalized(title, body) {
  const { dense, titleTokens, bodyTokens } = denseFeatures(wellFormed(title), wellFormed(body));
  return { ngramIds: ngramIds(titleTokens, bodyTokens), dense };
}

/** Featurize one question (title and Markdown-flavoured body) per FEATURES.md. */
export function featurize(title, body) {
  return featurizeNormalized(normalizeTitle(wellFormed(title)), normalize(wellFormed(body)));
}
