// FEATURES.md §3 in JavaScript: a normalized body's code blocks, lists, paragraphs, links and the prose
// left for reading, as mleditor/core/text_structure.py finds them (the same line scan and the same
// linear-time forms of §10). featurizer.js builds on it; tests/browser/featurizer.test.mjs holds both
// to the reference.

export const ASCII_WHITESPACE = new Set([" ", "\t", "\n", "\r", "\f", "\v"]);

/** The number of code points in `text` (a surrogate pair counts once; Python counts code points). */
export function length(text) {
  let n = text.length;
  for (let i = 1; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xdc00 && unit <= 0xdfff && (text.charCodeAt(i - 1) & 0xfc00) === 0xd800) n--;
  }
  return n;
}

// ---------------------------------------------------------------- §3 body structure

const FENCE_OPEN = /^ {0,3}(`{3,}|~{3,})/u;
const THEMATIC_BREAK = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/u;
const LIST_ITEM = /^[ \t]*(?:[-*+]|[0-9]{1,9}[.)])[ \t]+[^ \t]/u;
const HEADING = /^ {0,3}#{1,6}(?:[ \t]|$)/u;
const BLOCK_MARKERS = /^[ \t]*(?:>[ \t]?)*[ \t]*(?:(?:[-*+]|[0-9]{1,9}[.)])[ \t]+|#{1,6}[ \t]+)?/u;
const MAY_OPEN_CODE = new Set([" ", "\t", "`", "~"]);
const MAY_MARK_BLOCK = new Set(" \t\f\v>-*_+#0123456789");
const INLINE_CODE = /`[^`\n]+`/gu;
// IMAGE and LINK searched as §10 says (text_structure.py _IMAGE_SCAN, _LINK_SCAN): a match is an
// image or a link exactly when its last group took part.
const IMAGE_SCAN = /!\[[^\]\n]*(?:\](?:\([^)\n]*(\))?)?)?/gu;
const LINK_SCAN = /\[([^\]\n]*)(?:\](?:\([^)\n]*(\))?)?)?/gu;
const BARE_URL = /https?:\/\/[^ \t\n<>"'()[\]]+/gu;

const isBlank = (line) => { // ^[ \t\f\v]*$
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c !== " " && c !== "\t" && c !== "\f" && c !== "\v") return false;
  }
  return true;
};
const isIndented = (line) => line[0] === "\t" || line.startsWith("    "); // ^(?: {4}|\t)

function closesFence(line, fence) {
  let start = 0;
  while (start < line.length && line[start] === " ") start++;
  if (start > 3) return false;
  let end = start;
  while (end < line.length && line[end] === fence[0]) end++;
  if (end - start < fence.length) return false;
  for (let i = end; i < line.length; i++) if (!ASCII_WHITESPACE.has(line[i])) return false;
  return true;
}

/** §3.1, §3.2: which lines are code, and how many code blocks. */
function splitCode(lines) {
  const isCode = new Uint8Array(lines.length);
  let blocks = 0;
  for (let i = 0; i < lines.length;) {
    const line = lines[i];
    if (!MAY_OPEN_CODE.has(line[0])) {
      i++;
      continue;
    }
    const opening = FENCE_OPEN.exec(line);
    if (opening) {
      const fence = opening[1];
      blocks++;
      isCode[i++] = 1;
      while (i < lines.length) {
        isCode[i++] = 1;
        if (closesFence(lines[i - 1], fence)) break;
      }
      continue;
    }
    if (isIndented(line) && !isBlank(line) && (i === 0 || isBlank(lines[i - 1]))) {
      blocks++;
      let lastCode = i;
      for (let j = i; j < lines.length && (isIndented(lines[j]) || isBlank(lines[j])); j++) {
        if (!isBlank(lines[j])) lastCode = j;
      }
      isCode.fill(1, i, lastCode + 1);
      i = lastCode + 1;
      continue;
    }
    i++;
  }
  return { isCode, blocks };
}

/** §3.3–§3.5 step 1: list items, paragraphs, and the text lines without their block markers. */
function scanText(lines, isCode) {
  let listItems = 0;
  let paragraphs = 0;
  let inRun = false;
  const textLines = [];
  for (let k = 0; k < lines.length; k++) {
    if (isCode[k]) {
      inRun = false;
      continue;
    }
    const line = lines[k];
    if (line.length > 0 && !MAY_MARK_BLOCK.has(line[0])) {
      if (!inRun) paragraphs++;
      inRun = true;
      textLines.push(line);
      continue;
    }
    const isBreak = THEMATIC_BREAK.test(line);
    textLines.push(isBreak ? "" : line.replace(BLOCK_MARKERS, ""));
    if (isBlank(line)) {
      inRun = false;
      continue;
    }
    const isItem = !isBreak && LIST_ITEM.test(line);
    if (isItem) listItems++;
    if (!inRun) {
      inRun = true;
      if (!(isItem || isBreak || HEADING.test(line))) paragraphs++;
    }
  }
  return { listItems, paragraphs, textLines };
}

/** §3: a normalized body's structure and prose (text_structure.parse_body). */
export function parseBody(body) {
  const lines = body.split("\n");
  const { isCode, blocks } = splitCode(lines);
  let codeChars = 0;
  if (blocks) for (let k = 0; k < lines.length; k++) if (isCode[k]) codeChars += length(lines[k]);
  const { listItems, paragraphs, textLines } = scanText(lines, isCode);
  let inlineCode = 0;
  let text = textLines.join("\n").replace(INLINE_CODE, () => {
    inlineCode++;
    return " ";
  });
  let images = 0;
  if (text.includes("![")) {
    text = text.replace(IMAGE_SCAN, (match, close) => {
      if (close === undefined) return match;
      images++;
      return " ";
    });
  }
  let without = text;
  let withTexts = text;
  let markdownLinks = 0;
  if (text.includes("[")) {
    const a = [];
    const b = [];
    let end = 0;
    for (const match of text.matchAll(LINK_SCAN)) {
      if (match[2] === undefined) continue;
      markdownLinks++;
      const before = text.slice(end, match.index);
      a.push(before, " ");
      b.push(before, match[1]);
      end = match.index + match[0].length;
    }
    a.push(text.slice(end));
    b.push(text.slice(end));
    without = a.join("");
    withTexts = b.join("");
  }
  const bareUrls = (without.match(BARE_URL) ?? []).length;
  return {
    prose: withTexts.replace(BARE_URL, " "),
    codeBlocks: blocks,
    codeChars,
    inlineCode,
    links: markdownLinks + bareUrls,
    images,
    listItems,
    paragraphs,
  };
}
