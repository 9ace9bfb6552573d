/* The featurizer of FEATURES.md §3–§8, compiled: the hot path of every door.
 *
 * Input: a title and a body already normalized by §2 (`mleditor.core.features.normalize`; NFKC
 * stays with CPython's `unicodedata`). Output: exactly what the Python reference
 * (`mleditor/core/features.py`, `text_structure.py`) returns — the same n-gram ids, bit-identical
 * dense values — which tests/core/test_native_featurizer.py proves on the golden vectors and on
 * generated inputs.
 *
 * Unicode facts come from CPython itself, so both implementations read the same tables:
 * letters and numbers are `Py_UNICODE_ISALNUM` (what `re`'s `[^\W_]` means), category Lu is
 * `Py_UNICODE_ISUPPER && Py_UNICODE_ISALPHA` (equal to it for every code point of Unicode 14),
 * and lowercasing non-ASCII text calls `str.lower()` (full case mapping, final sigma included).
 *
 * Every step is one pass, or a bounded number of passes, over its input (FEATURES.md §10): no
 * pattern is retried inside a span it has already scanned. Every buffer is sized before it is
 * written and every index is checked against its length: bad input gets a Python exception,
 * never a crash.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef Py_UCS4 U;

#define N_BUCKETS 65536
#define MAX_BODY_TOKENS_FOR_NGRAMS 5000
#define MAX_NGRAMS 4096
#define N_DENSE 24

/* ---------------------------------------------------------------- buffers */

typedef struct {
    U *p;
    Py_ssize_t n, cap;
} Buf;

static int buf_reserve(Buf *b, Py_ssize_t extra) {
    if (b->p != NULL && b->n + extra <= b->cap) return 0; /* allocated even when empty: never memcpy to NULL */
    Py_ssize_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra) cap *= 2;
    U *p = PyMem_Realloc(b->p, (size_t)cap * sizeof(U));
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static int buf_append(Buf *b, const U *src, Py_ssize_t n) {
    if (n <= 0) return 0;
    if (buf_reserve(b, n) < 0) return -1;
    memcpy(b->p + b->n, src, (size_t)n * sizeof(U));
    b->n += n;
    return 0;
}

static int buf_put(Buf *b, U c) {
    if (buf_reserve(b, 1) < 0) return -1;
    b->p[b->n++] = c;
    return 0;
}

static void buf_free(Buf *b) {
    PyMem_Free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

/* Make *p hold at least `need` bytes (its capacity in *cap); the contents are kept. */
static int grow(void **p, size_t *cap, size_t need) {
    if (*p != NULL && need <= *cap) return 0;
    size_t size = *cap ? *cap : 256;
    while (size < need) size *= 2;
    void *q = PyMem_Realloc(*p, size);
    if (q == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *p = q;
    *cap = size;
    return 0;
}

/* ---------------------------------------------------------------- character classes */

static inline int is_space_tab(U c) { return c == ' ' || c == '\t'; }
static inline int is_blank_char(U c) { return c == ' ' || c == '\t' || c == '\f' || c == '\v'; }
static inline int is_ascii_ws(U c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
static inline int is_digit(U c) { return c >= '0' && c <= '9'; }

static inline int is_alnum(U c) {
    if (c < 128) return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
    return Py_UNICODE_ISALNUM(c);
}

static int is_vowel_slow(U c) {
    switch (c) {
    case 'a': case 'e': case 'i': case 'o': case 'u': case 'y':
    case 0xe0: case 0xe1: case 0xe2: case 0xe3: case 0xe4: case 0xe5: case 0xe6:  /* à á â ã ä å æ */
    case 0xe8: case 0xe9: case 0xea: case 0xeb:                                   /* è é ê ë */
    case 0xec: case 0xed: case 0xee: case 0xef:                                   /* ì í î ï */
    case 0xf2: case 0xf3: case 0xf4: case 0xf5: case 0xf6: case 0xf8:             /* ò ó ô õ ö ø */
    case 0xf9: case 0xfa: case 0xfb: case 0xfc: case 0xfd: case 0xff:             /* ù ú û ü ý ÿ */
    case 0x153:                                                                   /* œ */
        return 1;
    default:
        return 0;
    }
}

#define VOWEL_TABLE_SIZE 0x154 /* every vowel of §6 is below U+0154 (œ is U+0153) */
static unsigned char vowel_table[VOWEL_TABLE_SIZE];

static void init_vowel_table(void) {
    for (U c = 0; c < VOWEL_TABLE_SIZE; c++) vowel_table[c] = (unsigned char)is_vowel_slow(c);
}

static inline int is_vowel(U c) { return c < VOWEL_TABLE_SIZE && vowel_table[c]; }

/* ---------------------------------------------------------------- §3 line patterns */

/* A line is s[0..n). Each function returns what its pattern in text_structure.py matches. */

static int line_is_blank(const U *s, Py_ssize_t n) { /* ^[ \t\f\v]*$ */
    for (Py_ssize_t i = 0; i < n; i++)
        if (!is_blank_char(s[i])) return 0;
    return 1;
}

static Py_ssize_t leading_spaces(const U *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n && s[i] == ' ') i++;
    return i;
}

static Py_ssize_t run_of(const U *s, Py_ssize_t n, Py_ssize_t i, U c) {
    Py_ssize_t j = i;
    while (j < n && s[j] == c) j++;
    return j - i;
}

/* ^ {0,3}(`{3,}|~{3,}): the fence's character and length, or 0. */
static Py_ssize_t fence_open(const U *s, Py_ssize_t n, U *fence_char) {
    Py_ssize_t k = leading_spaces(s, n);
    if (k > 3 || k >= n || (s[k] != '`' && s[k] != '~')) return 0;
    Py_ssize_t r = run_of(s, n, k, s[k]);
    if (r < 3) return 0;
    *fence_char = s[k];
    return r;
}

static int closes_fence(const U *s, Py_ssize_t n, U fence_char, Py_ssize_t fence_len) {
    Py_ssize_t k = leading_spaces(s, n);
    if (k > 3) return 0;
    Py_ssize_t r = run_of(s, n, k, fence_char);
    if (r < fence_len) return 0;
    for (Py_ssize_t i = k + r; i < n; i++)
        if (!is_ascii_ws(s[i])) return 0;
    return 1;
}

static int is_indented(const U *s, Py_ssize_t n) { /* ^(?: {4}|\t) */
    if (n >= 1 && s[0] == '\t') return 1;
    return n >= 4 && s[0] == ' ' && s[1] == ' ' && s[2] == ' ' && s[3] == ' ';
}

/* ^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$ */
static int is_thematic_break(const U *s, Py_ssize_t n) {
    Py_ssize_t k = leading_spaces(s, n);
    if (k > 3 || k >= n) return 0;
    U c = s[k];
    if (c != '-' && c != '*' && c != '_') return 0;
    Py_ssize_t count = 0;
    for (Py_ssize_t i = k; i < n; i++) {
        if (s[i] == c) count++;
        else if (!is_space_tab(s[i])) return 0;
    }
    return count >= 3;
}

/* A list marker at i: [-*+] or [0-9]{1,9}[.)]. Returns the index after it, or -1. */
static Py_ssize_t list_marker_end(const U *s, Py_ssize_t n, Py_ssize_t i) {
    if (i >= n) return -1;
    if (s[i] == '-' || s[i] == '*' || s[i] == '+') return i + 1;
    Py_ssize_t j = i;
    while (j < n && is_digit(s[j])) j++;
    Py_ssize_t d = j - i;
    if (d >= 1 && d <= 9 && j < n && (s[j] == '.' || s[j] == ')')) return j + 1;
    return -1;
}

/* ^[ \t]*(?:[-*+]|[0-9]{1,9}[.)])[ \t]+[^ \t] */
static int is_list_item(const U *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n && is_space_tab(s[i])) i++;
    Py_ssize_t m = list_marker_end(s, n, i);
    if (m < 0 || m >= n || !is_space_tab(s[m])) return 0;
    while (m < n && is_space_tab(s[m])) m++;
    return m < n;
}

/* ^ {0,3}#{1,6}(?:[ \t]|$) */
static int is_heading(const U *s, Py_ssize_t n) {
    Py_ssize_t k = leading_spaces(s, n);
    if (k > 3) return 0;
    Py_ssize_t r = run_of(s, n, k, '#');
    if (r < 1 || r > 6) return 0;
    return k + r == n || is_space_tab(s[k + r]);
}

/* The length of the first match of
 * ^[ \t]*(?:>[ \t]?)*[ \t]*(?:(?:[-*+]|[0-9]{1,9}[.)])[ \t]+|#{1,6}[ \t]+)?
 * Every part is optional, so the greedy path is the match: no backtracking is ever needed. */
static Py_ssize_t block_markers_end(const U *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n && is_space_tab(s[i])) i++;
    while (i < n && s[i] == '>') {
        i++;
        if (i < n && is_space_tab(s[i])) i++;
    }
    while (i < n && is_space_tab(s[i])) i++;
    Py_ssize_t m = list_marker_end(s, n, i);
    if (m >= 0 && m < n && is_space_tab(s[m])) {
        while (m < n && is_space_tab(s[m])) m++;
        return m;
    }
    Py_ssize_t r = run_of(s, n, i, '#');
    if (r >= 1 && r <= 6 && i + r < n && is_space_tab(s[i + r])) {
        m = i + r;
        while (m < n && is_space_tab(s[m])) m++;
        return m;
    }
    return i;
}

static int may_mark_block(U c) { /* " \t\f\v>-*_+#0123456789" */
    return is_blank_char(c) || c == '>' || c == '-' || c == '*' || c == '_' || c == '+' || c == '#' ||
           is_digit(c);
}

/* ---------------------------------------------------------------- §3 body structure */

typedef struct {
    Py_ssize_t code_blocks, code_chars, inline_code, links, images, list_items, paragraphs;
} Structure;

typedef struct {
    Py_ssize_t *start; /* n + 1 entries: line i is body[start[i] .. start[i+1] - 1) */
    Py_ssize_t n;
    Py_ssize_t body_len;
    size_t cap; /* bytes allocated for start */
} Lines;

static inline const U *line_at(const U *body, const Lines *L, Py_ssize_t i, Py_ssize_t *len) {
    Py_ssize_t a = L->start[i];
    Py_ssize_t b = (i + 1 < L->n) ? L->start[i + 1] - 1 : L->body_len;
    *len = b - a;
    return body + a;
}

static int split_lines(const U *body, Py_ssize_t len, Lines *L) {
    Py_ssize_t count = 1;
    for (Py_ssize_t i = 0; i < len; i++) count += body[i] == '\n';
    if (grow((void **)&L->start, &L->cap, (size_t)(count + 1) * sizeof(Py_ssize_t)) < 0) return -1;
    L->n = count;
    L->body_len = len;
    Py_ssize_t k = 0;
    L->start[k++] = 0;
    for (Py_ssize_t i = 0; i < len; i++)
        if (body[i] == '\n') L->start[k++] = i + 1;
    L->start[k] = len + 1;
    return 0;
}

/* §3.1, §3.2: which lines are code; the number of blocks. */
static Py_ssize_t split_code(const U *body, const Lines *L, unsigned char *is_code) {
    Py_ssize_t blocks = 0, i = 0, n = L->n;
    while (i < n) {
        Py_ssize_t len;
        const U *line = line_at(body, L, i, &len);
        if (len == 0 || (line[0] != ' ' && line[0] != '\t' && line[0] != '`' && line[0] != '~')) {
            i++;
            continue;
        }
        U fence_char = 0;
        Py_ssize_t fence_len = fence_open(line, len, &fence_char);
        if (fence_len) {
            blocks++;
            is_code[i++] = 1;
            while (i < n) {
                is_code[i] = 1;
                i++;
                Py_ssize_t l2;
                const U *prev = line_at(body, L, i - 1, &l2);
                if (closes_fence(prev, l2, fence_char, fence_len)) break;
            }
            continue;
        }
        int opens = is_indented(line, len) && !line_is_blank(line, len);
        if (opens && i > 0) {
            Py_ssize_t lp;
            const U *prev = line_at(body, L, i - 1, &lp);
            opens = line_is_blank(prev, lp);
        }
        if (opens) {
            blocks++;
            Py_ssize_t last = i, j = i;
            while (j < n) {
                Py_ssize_t lj;
                const U *lj_p = line_at(body, L, j, &lj);
                int blank = line_is_blank(lj_p, lj);
                if (!(is_indented(lj_p, lj) || blank)) break;
                if (!blank) last = j;
                j++;
            }
            for (Py_ssize_t k = i; k <= last; k++) is_code[k] = 1;
            i = last + 1;
            continue;
        }
        i++;
    }
    return blocks;
}

/* §3.3–§3.5 step 1: list items, paragraphs, and the text lines without block markers, joined by \n. */
static int scan_text(const U *body, const Lines *L, const unsigned char *is_code, Structure *st, Buf *text) {
    int in_run = 0, first = 1;
    for (Py_ssize_t i = 0; i < L->n; i++) {
        if (is_code[i]) {
            in_run = 0;
            continue;
        }
        Py_ssize_t len;
        const U *line = line_at(body, L, i, &len);
        if (!first && buf_put(text, '\n') < 0) return -1;
        first = 0;
        if (len > 0 && !may_mark_block(line[0])) { /* plain text: no marker, not blank */
            st->paragraphs += !in_run;
            in_run = 1;
            if (buf_append(text, line, len) < 0) return -1;
            continue;
        }
        int is_break = is_thematic_break(line, len);
        if (!is_break) {
            Py_ssize_t cut = block_markers_end(line, len);
            if (buf_append(text, line + cut, len - cut) < 0) return -1;
        }
        if (line_is_blank(line, len)) {
            in_run = 0;
            continue;
        }
        int is_item = !is_break && is_list_item(line, len);
        st->list_items += is_item;
        if (!in_run) {
            in_run = 1;
            if (!(is_item || is_break || is_heading(line, len))) st->paragraphs++;
        }
    }
    return 0;
}

/* §3.5 step 2: each `[^`\n]+` replaced by a space. */
static int replace_inline_code(const Buf *in, Buf *out, Py_ssize_t *count) {
    const U *s = in->p;
    Py_ssize_t n = in->n, i = 0;
    if (buf_reserve(out, n) < 0) return -1;
    while (i < n) {
        if (s[i] == '`') {
            Py_ssize_t j = i + 1;
            while (j < n && s[j] != '`' && s[j] != '\n') j++;
            if (j < n && s[j] == '`' && j > i + 1) {
                out->p[out->n++] = ' ';
                (*count)++;
                i = j + 1;
                continue;
            }
        }
        out->p[out->n++] = s[i++];
    }
    return 0;
}

/* From an opening bracket at i (s[i] == '['): the scan pattern of §10,
 * \[([^\]\n]*)(?:\](?:\([^)\n]*(\))?)?)?  — always matches. Returns the match end; *closed says
 * whether the closing parenthesis took part; the captured text is s[i+1 .. *text_end). */
static Py_ssize_t bracket_scan(const U *s, Py_ssize_t n, Py_ssize_t i, int *closed, Py_ssize_t *text_end) {
    Py_ssize_t j = i + 1;
    while (j < n && s[j] != ']' && s[j] != '\n') j++;
    *text_end = j;
    *closed = 0;
    if (j >= n || s[j] != ']') return j;
    Py_ssize_t k = j + 1;
    if (k >= n || s[k] != '(') return k;
    Py_ssize_t m = k + 1;
    while (m < n && s[m] != ')' && s[m] != '\n') m++;
    if (m < n && s[m] == ')') {
        *closed = 1;
        return m + 1;
    }
    return m;
}

/* §3.5 step 3: each IMAGE match replaced by a space. */
static int replace_images(const Buf *in, Buf *out, Py_ssize_t *count) {
    const U *s = in->p;
    Py_ssize_t n = in->n, i = 0;
    if (buf_reserve(out, n) < 0) return -1;
    while (i < n) {
        if (s[i] == '!' && i + 1 < n && s[i + 1] == '[') {
            int closed;
            Py_ssize_t text_end;
            Py_ssize_t end = bracket_scan(s, n, i + 1, &closed, &text_end);
            if (closed) {
                out->p[out->n++] = ' ';
                (*count)++;
            } else {
                memcpy(out->p + out->n, s + i, (size_t)(end - i) * sizeof(U));
                out->n += end - i;
            }
            i = end;
            continue;
        }
        out->p[out->n++] = s[i++];
    }
    return 0;
}

/* §3.5 steps 4–5: the text with each LINK match replaced by a space (`without`) and by its link
 * text (`with_texts`). */
static int replace_links(const Buf *in, Buf *without, Buf *with_texts, Py_ssize_t *count) {
    const U *s = in->p;
    Py_ssize_t n = in->n, i = 0, copied = 0;
    if (buf_reserve(without, n) < 0 || buf_reserve(with_texts, n) < 0) return -1;
    while (i < n) {
        if (s[i] != '[') {
            i++;
            continue;
        }
        int closed;
        Py_ssize_t text_end;
        Py_ssize_t end = bracket_scan(s, n, i, &closed, &text_end);
        if (closed) {
            (*count)++;
            memcpy(without->p + without->n, s + copied, (size_t)(i - copied) * sizeof(U));
            without->n += i - copied;
            without->p[without->n++] = ' ';
            memcpy(with_texts->p + with_texts->n, s + copied, (size_t)(i - copied) * sizeof(U));
            with_texts->n += i - copied;
            memcpy(with_texts->p + with_texts->n, s + i + 1, (size_t)(text_end - i - 1) * sizeof(U));
            with_texts->n += text_end - i - 1;
            copied = end;
        }
        i = end;
    }
    memcpy(without->p + without->n, s + copied, (size_t)(n - copied) * sizeof(U));
    without->n += n - copied;
    memcpy(with_texts->p + with_texts->n, s + copied, (size_t)(n - copied) * sizeof(U));
    with_texts->n += n - copied;
    return 0;
}

static inline int is_url_char(U c) { /* [^ \t\n<>"'()\[\]] */
    switch (c) {
    case ' ': case '\t': case '\n': case '<': case '>': case '"': case '\'':
    case '(': case ')': case '[': case ']':
        return 0;
    default:
        return 1;
    }
}

/* https?://[^ \t\n<>"'()\[\]]+ at i: the match end, or -1. */
static Py_ssize_t url_at(const U *s, Py_ssize_t n, Py_ssize_t i) {
    if (i + 4 > n || s[i] != 'h' || s[i + 1] != 't' || s[i + 2] != 't' || s[i + 3] != 'p') return -1;
    Py_ssize_t p = i + 4;
    if (p < n && s[p] == 's') p++;
    if (p + 3 > n || s[p] != ':' || s[p + 1] != '/' || s[p + 2] != '/') return -1;
    Py_ssize_t q = p + 3;
    while (q < n && is_url_char(s[q])) q++;
    return q > p + 3 ? q : -1;
}

static Py_ssize_t count_urls(const Buf *in) {
    Py_ssize_t count = 0, i = 0;
    while (i < in->n) {
        Py_ssize_t end = in->p[i] == 'h' ? url_at(in->p, in->n, i) : -1;
        if (end > 0) {
            count++;
            i = end;
        } else {
            i++;
        }
    }
    return count;
}

static int replace_urls(const Buf *in, Buf *out) {
    if (buf_reserve(out, in->n) < 0) return -1;
    Py_ssize_t i = 0;
    while (i < in->n) {
        Py_ssize_t end = in->p[i] == 'h' ? url_at(in->p, in->n, i) : -1;
        if (end > 0) {
            out->p[out->n++] = ' ';
            i = end;
        } else {
            out->p[out->n++] = in->p[i++];
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- §4 lowercase and tokens */

/* `s.lower()` of s[0..n): ASCII here, anything else by str.lower() (full case mapping). */
static int lowercase(const U *s, Py_ssize_t n, Buf *out) {
    if (buf_reserve(out, n) < 0) return -1;
    Py_ssize_t i = 0;
    for (; i < n && s[i] < 128; i++) {
        U c = s[i];
        out->p[i] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
    }
    if (i == n) {
        out->n = n;
        return 0;
    }
    PyObject *str = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, s, n);
    if (str == NULL) return -1;
    PyObject *lower = PyObject_CallMethod(str, "lower", NULL);
    Py_DECREF(str);
    if (lower == NULL) return -1;
    Py_ssize_t m = PyUnicode_GET_LENGTH(lower);
    if (buf_reserve(out, m) < 0) {
        Py_DECREF(lower);
        return -1;
    }
    if (PyUnicode_AsUCS4(lower, out->p + out->n, m, 0) == NULL) {
        Py_DECREF(lower);
        return -1;
    }
    out->n += m;
    Py_DECREF(lower);
    return 0;
}

typedef struct {
    Py_ssize_t *start, *len;
    Py_ssize_t n, cap;
} Tokens;

static int tokenize(const U *s, Py_ssize_t n, Tokens *t) {
    Py_ssize_t i = 0;
    while (i < n) {
        if (!is_alnum(s[i])) {
            i++;
            continue;
        }
        Py_ssize_t j = i + 1;
        while (j < n && is_alnum(s[j])) j++;
        if (t->n == t->cap) {
            Py_ssize_t cap = t->cap ? t->cap * 2 : 64;
            Py_ssize_t *a = PyMem_Realloc(t->start, (size_t)cap * sizeof(Py_ssize_t));
            if (a == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            t->start = a;
            Py_ssize_t *b = PyMem_Realloc(t->len, (size_t)cap * sizeof(Py_ssize_t));
            if (b == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            t->len = b;
            t->cap = cap;
        }
        t->start[t->n] = i;
        t->len[t->n] = j - i;
        t->n++;
        i = j;
    }
    return 0;
}

static void tokens_free(Tokens *t) {
    PyMem_Free(t->start);
    PyMem_Free(t->len);
    t->start = t->len = NULL;
    t->n = t->cap = 0;
}

/* ---------------------------------------------------------------- sets of tokens */

typedef struct {
    const U *p;
    Py_ssize_t n;
    uint32_t hash;
} Key;

typedef struct {
    Key *slots; /* p == NULL: empty */
    size_t mask;
    Py_ssize_t count;
    size_t cap; /* bytes allocated for slots */
} TokenSet;

static uint32_t hash_span(const U *p, Py_ssize_t n) { /* FNV-1a over code points */
    uint32_t h = 2166136261u;
    for (Py_ssize_t i = 0; i < n; i++) {
        h ^= (uint32_t)p[i];
        h *= 16777619u;
    }
    return h;
}

static int set_init(TokenSet *set, Py_ssize_t expected) {
    size_t cap = 16;
    while (cap < (size_t)expected * 2 + 1) cap *= 2;
    if (grow((void **)&set->slots, &set->cap, cap * sizeof(Key)) < 0) return -1;
    memset(set->slots, 0, cap * sizeof(Key));
    set->mask = cap - 1;
    set->count = 0;
    return 0;
}

/* 1 if (p, n), whose hash_span is h, was added, 0 if it was there; the set never fills (sized for every token). */
static int set_add_hashed(TokenSet *set, const U *p, Py_ssize_t n, uint32_t h) {
    size_t i = h & set->mask;
    while (set->slots[i].p != NULL) {
        Key *k = &set->slots[i];
        if (k->hash == h && k->n == n && memcmp(k->p, p, (size_t)n * sizeof(U)) == 0) return 0;
        i = (i + 1) & set->mask;
    }
    set->slots[i].p = p;
    set->slots[i].n = n;
    set->slots[i].hash = h;
    set->count++;
    return 1;
}

static int set_add(TokenSet *set, const U *p, Py_ssize_t n) { return set_add_hashed(set, p, n, hash_span(p, n)); }

static int set_has(const TokenSet *set, const U *p, Py_ssize_t n) {
    uint32_t h = hash_span(p, n);
    size_t i = h & set->mask;
    while (set->slots[i].p != NULL) {
        const Key *k = &set->slots[i];
        if (k->hash == h && k->n == n && memcmp(k->p, p, (size_t)n * sizeof(U)) == 0) return 1;
        i = (i + 1) & set->mask;
    }
    return 0;
}

/* The word lists of §8, as code points (set at module init). */
#define MAX_WORD 16
typedef struct {
    U chars[MAX_WORD];
    Py_ssize_t n;
} Word;

static Word question_words[64];
static Py_ssize_t n_question_words;
static Word greeting_words[16];
static Py_ssize_t n_greeting_words;

static int word_in(const Word *words, Py_ssize_t count, const U *p, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < count; i++)
        if (words[i].n == n && memcmp(words[i].chars, p, (size_t)n * sizeof(U)) == 0) return 1;
    return 0;
}

/* ---------------------------------------------------------------- §7 hashing */

static inline uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

static uint32_t murmur3_32(const uint8_t *data, size_t len, uint32_t seed) {
    const uint32_t c1 = 0xcc9e2d51u, c2 = 0x1b873593u;
    uint32_t h = seed;
    size_t blocks = len / 4;
    for (size_t i = 0; i < blocks; i++) {
        const uint8_t *b = data + 4 * i;
        uint32_t k = (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
        k *= c1;
        k = rotl32(k, 15);
        k *= c2;
        h ^= k;
        h = rotl32(h, 13);
        h = h * 5 + 0xe6546b64u;
    }
    const uint8_t *tail = data + 4 * blocks;
    uint32_t k = 0;
    switch (len & 3) {
    case 3: k ^= (uint32_t)tail[2] << 16; /* fall through */
    case 2: k ^= (uint32_t)tail[1] << 8;  /* fall through */
    case 1:
        k ^= tail[0];
        k *= c1;
        k = rotl32(k, 15);
        k *= c2;
        h ^= k;
    }
    h ^= (uint32_t)len;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

/* UTF-8 of each token, back to back; offsets[i] .. offsets[i+1] is token i. Tokens hold only
 * letters and numbers, never surrogates. */
typedef struct {
    uint8_t *bytes;
    Py_ssize_t *offsets;
    size_t bytes_cap, offsets_cap;
} Utf8Tokens;

static int encode_tokens(const U *s, const Tokens *t, Py_ssize_t limit, Utf8Tokens *out) {
    Py_ssize_t count = t->n < limit ? t->n : limit, total = 0;
    for (Py_ssize_t i = 0; i < count; i++) total += t->len[i];
    if (grow((void **)&out->bytes, &out->bytes_cap, (size_t)total * 4 + 1) < 0 ||
        grow((void **)&out->offsets, &out->offsets_cap, (size_t)(count + 1) * sizeof(Py_ssize_t)) < 0)
        return -1;
    Py_ssize_t o = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        out->offsets[i] = o;
        const U *p = s + t->start[i];
        for (Py_ssize_t j = 0; j < t->len[i]; j++) {
            U c = p[j];
            if (c < 0x80) {
                out->bytes[o++] = (uint8_t)c;
            } else if (c < 0x800) {
                out->bytes[o++] = (uint8_t)(0xc0 | (c >> 6));
                out->bytes[o++] = (uint8_t)(0x80 | (c & 0x3f));
            } else if (c < 0x10000) {
                out->bytes[o++] = (uint8_t)(0xe0 | (c >> 12));
                out->bytes[o++] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
                out->bytes[o++] = (uint8_t)(0x80 | (c & 0x3f));
            } else {
                out->bytes[o++] = (uint8_t)(0xf0 | (c >> 18));
                out->bytes[o++] = (uint8_t)(0x80 | ((c >> 12) & 0x3f));
                out->bytes[o++] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
                out->bytes[o++] = (uint8_t)(0x80 | (c & 0x3f));
            }
        }
    }
    out->offsets[count] = o;
    return 0;
}

static void utf8_free(Utf8Tokens *u) {
    PyMem_Free(u->bytes);
    PyMem_Free(u->offsets);
    u->bytes = NULL;
    u->offsets = NULL;
    u->bytes_cap = u->offsets_cap = 0;
}

typedef struct {
    uint64_t seen[N_BUCKETS / 64];
    Py_ssize_t distinct;
    uint8_t *scratch;
    Py_ssize_t scratch_cap;
} IdCollector;

/* Hash prefix + a (+ " " + b); keep the id if new. Returns 1 once MAX_NGRAMS ids are kept. */
static int collect_gram(IdCollector *c, const char *prefix, const uint8_t *a, Py_ssize_t na, const uint8_t *b,
                        Py_ssize_t nb) {
    Py_ssize_t need = 2 + na + (b ? 1 + nb : 0);
    if (need > c->scratch_cap) {
        Py_ssize_t cap = need * 2;
        uint8_t *p = PyMem_Realloc(c->scratch, (size_t)cap);
        if (p == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        c->scratch = p;
        c->scratch_cap = cap;
    }
    uint8_t *w = c->scratch;
    w[0] = (uint8_t)prefix[0];
    w[1] = (uint8_t)prefix[1];
    memcpy(w + 2, a, (size_t)na);
    Py_ssize_t len = 2 + na;
    if (b) {
        w[len++] = ' ';
        memcpy(w + len, b, (size_t)nb);
        len += nb;
    }
    uint32_t id = murmur3_32(w, (size_t)len, 0) % N_BUCKETS; /* stored as id - 1 */
    uint64_t bit = (uint64_t)1 << (id & 63);
    if (!(c->seen[id >> 6] & bit)) {
        c->seen[id >> 6] |= bit;
        c->distinct++;
    }
    return c->distinct >= MAX_NGRAMS;
}

static int collect_field(IdCollector *c, const char *prefix, const Utf8Tokens *u, Py_ssize_t count) {
    for (Py_ssize_t i = 0; i < count; i++) {
        int r = collect_gram(c, prefix, u->bytes + u->offsets[i], u->offsets[i + 1] - u->offsets[i], NULL, 0);
        if (r) return r;
    }
    for (Py_ssize_t i = 0; i + 1 < count; i++) {
        int r = collect_gram(c, prefix, u->bytes + u->offsets[i], u->offsets[i + 1] - u->offsets[i],
                             u->bytes + u->offsets[i + 1], u->offsets[i + 2] - u->offsets[i + 1]);
        if (r) return r;
    }
    return 0;
}

/* ---------------------------------------------------------------- one question */

typedef struct {
    int64_t ids[MAX_NGRAMS];
    Py_ssize_t n_ids;
    double dense[N_DENSE];
} Output;

static inline double ratio(double a, double b) { return b != 0 ? a / b : 0.0; }

static Py_ssize_t syllables(const U *p, Py_ssize_t n) {
    Py_ssize_t groups = 0;
    int in_vowels = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int v = is_vowel(p[i]);
        groups += v && !in_vowels;
        in_vowels = v;
    }
    if (groups >= 2 && n >= 1 && p[n - 1] == 'e' && !(n >= 2 && p[n - 2] == 'l')) groups--;
    return groups > 1 ? groups : 1;
}

/* The number of parts of `prose` split by §5's breaks that hold a letter or number; its ? and !. */
static Py_ssize_t count_sentences(const U *s, Py_ssize_t n, Py_ssize_t *question_marks, Py_ssize_t *exclamations) {
    Py_ssize_t count = 0, i = 0;
    int has_token = 0;
    while (i < n) {
        U c = s[i];
        if (c == '\n' || c == 0x3002) {
            count += has_token;
            has_token = 0;
            i++;
            continue;
        }
        if (c == '.' || c == '!' || c == '?') {
            Py_ssize_t j = i;
            for (; j < n && (s[j] == '.' || s[j] == '!' || s[j] == '?'); j++) {
                *question_marks += s[j] == '?';
                *exclamations += s[j] == '!';
            }
            if (j == n || s[j] == ' ' || s[j] == '\t' || s[j] == '\n') {
                count += has_token;
                has_token = 0;
            }
            i = j;
            continue;
        }
        has_token |= is_alnum(c);
        i++;
    }
    return count + has_token;
}

/* Everything one question needs. Kept between calls (`work_acquire`), so that a long body does not
 * map and fault in fresh pages for each of its buffers on every call. */
typedef struct {
    Buf title, body; /* the input, as code points */
    Lines lines;
    unsigned char *is_code;
    size_t is_code_cap;
    Buf text, no_code, no_images, without, with_texts, prose, prose_lower, title_lower;
    Tokens title_tokens, body_tokens;
    TokenSet body_vocab, long_set, title_vocab;
    Utf8Tokens title_utf8, body_utf8;
    IdCollector ids;
    Output out;
} Work;

static void work_reset(Work *w) {
    Buf *bufs[] = {&w->title, &w->body, &w->text, &w->no_code, &w->no_images, &w->without, &w->with_texts,
                   &w->prose, &w->prose_lower, &w->title_lower};
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) bufs[i]->n = 0;
    w->title_tokens.n = w->body_tokens.n = 0;
    memset(w->ids.seen, 0, sizeof(w->ids.seen));
    w->ids.distinct = 0;
}

/* The bytes a kept workspace holds; past RETAINED_BYTES it is freed after the call instead. */
#define RETAINED_BYTES ((size_t)16 << 20)
static size_t work_bytes(const Work *w) {
    const Buf *bufs[] = {&w->title, &w->body, &w->text, &w->no_code, &w->no_images, &w->without, &w->with_texts,
                         &w->prose, &w->prose_lower, &w->title_lower};
    size_t total = w->lines.cap + w->is_code_cap + w->body_vocab.cap + w->long_set.cap + w->title_vocab.cap +
                   w->title_utf8.bytes_cap + w->title_utf8.offsets_cap + w->body_utf8.bytes_cap +
                   w->body_utf8.offsets_cap + (size_t)(w->title_tokens.cap + w->body_tokens.cap) * 2 * sizeof(Py_ssize_t);
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) total += (size_t)bufs[i]->cap * sizeof(U);
    return total;
}

static void work_free(Work *w) {
    buf_free(&w->title);
    buf_free(&w->body);
    PyMem_Free(w->lines.start);
    PyMem_Free(w->is_code);
    buf_free(&w->text);
    buf_free(&w->no_code);
    buf_free(&w->no_images);
    buf_free(&w->without);
    buf_free(&w->with_texts);
    buf_free(&w->prose);
    buf_free(&w->prose_lower);
    buf_free(&w->title_lower);
    tokens_free(&w->title_tokens);
    tokens_free(&w->body_tokens);
    PyMem_Free(w->body_vocab.slots);
    PyMem_Free(w->long_set.slots);
    PyMem_Free(w->title_vocab.slots);
    utf8_free(&w->title_utf8);
    utf8_free(&w->body_utf8);
    PyMem_Free(w->ids.scratch);
    memset(w, 0, sizeof(*w));
}

/* One workspace is kept. The GIL is held throughout, but `str.lower()` may run a garbage collection
 * and with it Python code that featurizes: a call that finds the workspace in use gets its own. */
static Work kept_work;
static int kept_work_busy;

static Work *work_acquire(void) {
    if (!kept_work_busy) {
        kept_work_busy = 1;
        work_reset(&kept_work);
        return &kept_work;
    }
    Work *w = PyMem_Calloc(1, sizeof(Work));
    if (w == NULL) PyErr_NoMemory();
    return w;
}

static void work_release(Work *w) {
    if (w == &kept_work) {
        if (work_bytes(w) > RETAINED_BYTES) work_free(w);
        kept_work_busy = 0;
        return;
    }
    work_free(w);
    PyMem_Free(w);
}

static int featurize_into(const U *title, Py_ssize_t title_len, const U *body, Py_ssize_t body_len, Output *out,
                          Work *w) {
    Structure st = {0};
    /* §3 */
    if (split_lines(body, body_len, &w->lines) < 0) return -1;
    if (grow((void **)&w->is_code, &w->is_code_cap, (size_t)w->lines.n) < 0) return -1;
    memset(w->is_code, 0, (size_t)w->lines.n);
    st.code_blocks = split_code(body, &w->lines, w->is_code);
    if (st.code_blocks) {
        for (Py_ssize_t i = 0; i < w->lines.n; i++) {
            if (!w->is_code[i]) continue;
            Py_ssize_t len;
            line_at(body, &w->lines, i, &len);
            st.code_chars += len;
        }
    }
    if (scan_text(body, &w->lines, w->is_code, &st, &w->text) < 0) return -1;
    /* Each step below only where its first character occurs: the others pass the text on as it is. */
    int has_backtick = 0, has_bang = 0, has_bracket = 0, has_h = 0;
    for (Py_ssize_t i = 0; i < w->text.n; i++) {
        U c = w->text.p[i];
        has_backtick |= c == '`';
        has_bang |= c == '!';
        has_bracket |= c == '[';
        has_h |= c == 'h';
    }
    const Buf *current = &w->text;
    if (has_backtick) {
        if (replace_inline_code(current, &w->no_code, &st.inline_code) < 0) return -1;
        current = &w->no_code;
    }
    if (has_bang && has_bracket) {
        if (replace_images(current, &w->no_images, &st.images) < 0) return -1;
        current = &w->no_images;
    }
    const Buf *without = current, *with_texts = current;
    Py_ssize_t markdown_links = 0;
    if (has_bracket) {
        if (replace_links(current, &w->without, &w->with_texts, &markdown_links) < 0) return -1;
        without = &w->without;
        with_texts = &w->with_texts;
    }
    const Buf *prose_buf = with_texts;
    st.links = markdown_links;
    if (has_h) {
        st.links += count_urls(without);
        if (replace_urls(with_texts, &w->prose) < 0) return -1;
        prose_buf = &w->prose;
    }
    const U *prose = prose_buf->p;
    Py_ssize_t prose_len = prose_buf->n;

    /* §4, §5 */
    if (lowercase(title, title_len, &w->title_lower) < 0) return -1;
    if (lowercase(prose, prose_len, &w->prose_lower) < 0) return -1;
    if (tokenize(w->title_lower.p, w->title_lower.n, &w->title_tokens) < 0) return -1;
    if (tokenize(w->prose_lower.p, w->prose_lower.n, &w->body_tokens) < 0) return -1;
    const U *tl = w->title_lower.p, *bl = w->prose_lower.p;
    const Tokens *tt = &w->title_tokens, *bt = &w->body_tokens;
    Py_ssize_t n_words = bt->n;
    Py_ssize_t question_marks = 0, exclamations = 0;
    Py_ssize_t n_sentences = count_sentences(prose, prose_len, &question_marks, &exclamations);

    /* §6, §8 */
    Py_ssize_t token_chars = 0, syllable_sum = 0, long_tokens = 0;
    if (set_init(&w->body_vocab, n_words) < 0 || set_init(&w->long_set, n_words) < 0) return -1;
    for (Py_ssize_t i = 0; i < n_words; i++) {
        const U *p = bl + bt->start[i];
        Py_ssize_t n = bt->len[i];
        token_chars += n;
        syllable_sum += syllables(p, n);
        uint32_t h = hash_span(p, n);
        set_add_hashed(&w->body_vocab, p, n, h);
        if (n >= 4) {
            long_tokens++;
            set_add_hashed(&w->long_set, p, n, h);
        }
    }
    if (set_init(&w->title_vocab, tt->n) < 0) return -1;
    Py_ssize_t title_vocab = 0, shared_vocab = 0;
    for (Py_ssize_t i = 0; i < tt->n; i++) {
        const U *p = tl + tt->start[i];
        Py_ssize_t n = tt->len[i];
        if (n >= 3 && set_add(&w->title_vocab, p, n)) {
            title_vocab++;
            shared_vocab += set_has(&w->body_vocab, p, n);
        }
    }
    int greeting = 0;
    for (Py_ssize_t i = 0; i < n_greeting_words && !greeting; i++)
        greeting = set_has(&w->body_vocab, greeting_words[i].chars, greeting_words[i].n);
    Py_ssize_t letters = 0, upper = 0, title_q = 0;
    for (Py_ssize_t i = 0; i < title_len; i++) {
        U c = title[i];
        title_q |= c == '?';
        if (c < 128) {
            int lower = c >= 'a' && c <= 'z', up = c >= 'A' && c <= 'Z';
            letters += lower || up;
            upper += up;
        } else if (Py_UNICODE_ISALPHA(c)) {
            letters++;
            upper += Py_UNICODE_ISUPPER(c) != 0;
        }
    }
    double words_per_sentence = ratio((double)n_words, (double)n_sentences);
    double syllables_per_word = ratio((double)syllable_sum, (double)n_words);
    double flesch = 0.0;
    if (n_words) {
        flesch = 206.835 - 1.015 * words_per_sentence - 84.6 * syllables_per_word;
        if (flesch < -100.0) flesch = -100.0;
        if (flesch > 121.22) flesch = 121.22;
    }
    double code_ratio = ratio((double)st.code_chars, (double)body_len);
    double *d = out->dense;
    d[0] = (double)title_len;
    d[1] = (double)tt->n;
    d[2] = title_q ? 1.0 : 0.0;
    d[3] = (tt->n && word_in(question_words, n_question_words, tl + tt->start[0], tt->len[0])) ? 1.0 : 0.0;
    d[4] = ratio((double)upper, (double)letters);
    d[5] = (double)body_len;
    d[6] = (double)n_words;
    d[7] = (double)n_sentences;
    d[8] = words_per_sentence;
    d[9] = ratio((double)token_chars, (double)n_words);
    d[10] = syllables_per_word;
    d[11] = flesch;
    d[12] = long_tokens ? 1.0 - ratio((double)w->long_set.count, (double)long_tokens) : 0.0;
    d[13] = (double)st.code_blocks;
    d[14] = (double)st.inline_code;
    d[15] = (double)st.links;
    d[16] = (double)st.images;
    d[17] = (double)st.list_items;
    d[18] = (double)st.paragraphs;
    d[19] = code_ratio < 1.0 ? code_ratio : 1.0;
    d[20] = (double)question_marks;
    d[21] = (double)exclamations;
    d[22] = greeting ? 1.0 : 0.0;
    d[23] = ratio((double)shared_vocab, (double)title_vocab);

    /* §7 */
    Py_ssize_t body_count = n_words < MAX_BODY_TOKENS_FOR_NGRAMS ? n_words : MAX_BODY_TOKENS_FOR_NGRAMS;
    if (encode_tokens(tl, tt, tt->n, &w->title_utf8) < 0) return -1;
    if (encode_tokens(bl, bt, body_count, &w->body_utf8) < 0) return -1;
    int r = collect_field(&w->ids, "t:", &w->title_utf8, tt->n);
    if (r == 0) r = collect_field(&w->ids, "b:", &w->body_utf8, body_count);
    if (r < 0) return -1;
    Py_ssize_t n_ids = 0; /* a local: a store to out->ids could otherwise alias out->n_ids */
    int64_t *ids = out->ids;
    for (Py_ssize_t word = 0; word < N_BUCKETS / 64; word++) {
        uint64_t bits = w->ids.seen[word];
        while (bits) {
            ids[n_ids++] = (int64_t)(word * 64 + __builtin_ctzll(bits) + 1);
            bits &= bits - 1;
        }
    }
    out->n_ids = n_ids;
    return 0;
}

/* ---------------------------------------------------------------- Python interface */

/* Copy a str's code points into `into`; a TypeError for anything else. */
static int read_str(PyObject *obj, const char *what, Buf *into) {
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be a str, not %.100s", what, Py_TYPE(obj)->tp_name);
        return -1;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(obj);
    if (buf_reserve(into, n + 1) < 0) return -1;
    if (n > 0 && PyUnicode_AsUCS4(obj, into->p, into->cap, 0) == NULL) return -1;
    into->n = n;
    return 0;
}

/* Featurize one title and body into w->out. */
static int featurize_objects(PyObject *title, PyObject *body, Work *w) {
    if (read_str(title, "title", &w->title) < 0 || read_str(body, "body", &w->body) < 0) return -1;
    return featurize_into(w->title.p, w->title.n, w->body.p, w->body.n, &w->out, w);
}

static PyObject *py_featurize_normalized(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *title, *body;
    if (!PyArg_ParseTuple(args, "OO:featurize_normalized", &title, &body)) return NULL;
    Work *w = work_acquire();
    if (w == NULL) return NULL;
    PyObject *result = NULL;
    if (featurize_objects(title, body, w) == 0) {
        const Output *out = &w->out;
        result = Py_BuildValue(
            "(NN)", PyByteArray_FromStringAndSize((const char *)out->ids, out->n_ids * (Py_ssize_t)sizeof(int64_t)),
            PyByteArray_FromStringAndSize((const char *)out->dense, N_DENSE * (Py_ssize_t)sizeof(double)));
    }
    work_release(w);
    return result;
}

/* featurize_many(titles, bodies) -> (ids bytes, offsets bytes [n+1] int64, dense bytes [n*24] float64) */
static PyObject *py_featurize_many(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *titles, *bodies;
    if (!PyArg_ParseTuple(args, "OO:featurize_many", &titles, &bodies)) return NULL;
    PyObject *ts = PySequence_Fast(titles, "titles must be a sequence of str");
    if (ts == NULL) return NULL;
    PyObject *bs = PySequence_Fast(bodies, "bodies must be a sequence of str");
    if (bs == NULL) {
        Py_DECREF(ts);
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(ts);
    PyObject *result = NULL, *ids = NULL, *offsets = NULL, *dense = NULL;
    if (PySequence_Fast_GET_SIZE(bs) != n) {
        PyErr_Format(PyExc_ValueError, "titles and bodies must be as long as each other; got %zd and %zd", n,
                     PySequence_Fast_GET_SIZE(bs));
        goto done;
    }
    ids = PyByteArray_FromStringAndSize(NULL, 0);
    offsets = PyByteArray_FromStringAndSize(NULL, (n + 1) * (Py_ssize_t)sizeof(int64_t));
    dense = PyByteArray_FromStringAndSize(NULL, n * N_DENSE * (Py_ssize_t)sizeof(double));
    if (ids == NULL || offsets == NULL || dense == NULL) goto done;
    int64_t *off = (int64_t *)PyByteArray_AS_STRING(offsets);
    double *dn = (double *)PyByteArray_AS_STRING(dense);
    off[0] = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Work *w = work_acquire();
        if (w == NULL) goto done;
        const Output *out = &w->out;
        int failed = featurize_objects(PySequence_Fast_GET_ITEM(ts, i), PySequence_Fast_GET_ITEM(bs, i), w) < 0;
        Py_ssize_t had = PyByteArray_GET_SIZE(ids);
        failed = failed || PyByteArray_Resize(ids, had + out->n_ids * (Py_ssize_t)sizeof(int64_t)) < 0;
        if (!failed) {
            memcpy(PyByteArray_AS_STRING(ids) + had, out->ids, (size_t)out->n_ids * sizeof(int64_t));
            off[i + 1] = off[i] + out->n_ids;
            memcpy(dn + i * N_DENSE, out->dense, sizeof(out->dense));
        }
        work_release(w);
        if (failed) goto done;
    }
    result = Py_BuildValue("(OOO)", ids, offsets, dense);
done:
    Py_XDECREF(ids);
    Py_XDECREF(offsets);
    Py_XDECREF(dense);
    Py_DECREF(ts);
    Py_DECREF(bs);
    return result;
}

static PyObject *py_murmurhash3_32(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*:murmurhash3_32", &data)) return NULL;
    uint32_t h = murmur3_32(data.buf, (size_t)data.len, 0);
    PyBuffer_Release(&data);
    return PyLong_FromUnsignedLong(h);
}

static int load_words(PyObject *words, Word *into, Py_ssize_t room, Py_ssize_t *count) {
    PyObject *seq = PySequence_Fast(words, "word lists must be sequences of str");
    if (seq == NULL) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > room) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "too many words for the native featurizer's tables");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *word = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyUnicode_Check(word) || PyUnicode_GET_LENGTH(word) > MAX_WORD) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "each word must be a str of at most 16 characters");
            return -1;
        }
        into[i].n = PyUnicode_GET_LENGTH(word);
        if (PyUnicode_AsUCS4(word, into[i].chars, MAX_WORD, 0) == NULL) {
            Py_DECREF(seq);
            return -1;
        }
    }
    *count = n;
    Py_DECREF(seq);
    return 0;
}

/* set_word_lists(question_words, greeting_words): the §8 lists, from features.py (one source). */
static PyObject *py_set_word_lists(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *question, *greeting;
    if (!PyArg_ParseTuple(args, "OO:set_word_lists", &question, &greeting)) return NULL;
    if (load_words(question, question_words, 64, &n_question_words) < 0) return NULL;
    if (load_words(greeting, greeting_words, 16, &n_greeting_words) < 0) return NULL;
    Py_RETURN_NONE;
}

/* has_non_ascii_run(text, n) -> whether text holds n non-ASCII code points in a row (§2's cheap test
 * before NFKC in steps; the regex `[^\x00-\x7f]{n}` costs ~25 ns a character). */
static PyObject *py_has_non_ascii_run(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *text;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "Un:has_non_ascii_run", &text, &n)) return NULL;
    if (PyUnicode_IS_ASCII(text) || n <= 0) return PyBool_FromLong(n <= 0);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text), run = 0;
    for (Py_ssize_t i = 0; i < length; i++) {
        run = PyUnicode_READ(kind, data, i) >= 128 ? run + 1 : 0;
        if (run >= n) Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

static PyMethodDef methods[] = {
    {"has_non_ascii_run", py_has_non_ascii_run, METH_VARARGS,
     "has_non_ascii_run(text, n) -> whether text holds n non-ASCII code points in a row"},
    {"featurize_normalized", py_featurize_normalized, METH_VARARGS,
     "featurize_normalized(title, body) -> (ids: bytearray of int64, dense: bytearray of 24 float64)"},
    {"featurize_many", py_featurize_many, METH_VARARGS,
     "featurize_many(titles, bodies) -> (ids, offsets [n+1] int64, dense [n*24] float64), all bytearrays"},
    {"murmurhash3_32", py_murmurhash3_32, METH_VARARGS, "murmurhash3_32(data: bytes) -> unsigned 32-bit hash, seed 0"},
    {"set_word_lists", py_set_word_lists, METH_VARARGS, "set_word_lists(question_words, greeting_words)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_native_featurizer",
    "FEATURES.md §3-§8 compiled; use mleditor.core.features, which picks it.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native_featurizer(void) {
    init_vowel_table();
    return PyModule_Create(&module);
}
