/* The rewriter's hot loop in C: how far a run of HTML passes through untouched.
 *
 * Skipper(interesting, quiet, keys, text, foreign, svg_points, math_points).skip(buf, pos,
 * quiet_ok) returns the end of the longest run of buf from pos that scanner.SKIP_RE
 * matches (text, comments, doctypes and the start/end tags that cannot matter, a tag with
 * a style attribute excepted), written out as the state machine the regex describes. With
 * quiet_ok (bits, see QUIET) it also steps over what the Python neutraliser would return
 * unchanged:
 *  - a start tag named in `quiet` unless it has its key attribute (keys[i], such as
 *    http-equiv; with QUIET, a background or ping key may hold URLs of settled hosts, as
 *    below; an action or formaction key, any URL without skip's endpoint word: see
 *    inert_action) or, for a name without a key, unless it may point to another host (a
 *    "//" or a '&' or ':'; with KEYED alone, only names with a key);
 *  - for a name in `hosted` (with skip's settled and seen), the URLs in its `urls`
 *    attributes must instead each be relative without a colon, or name a settled host
 *    plainly (http(s)://host or //host: see urls_settled), other attributes aside;
 *  - a style attribute whose value cannot load anything (css.STYLE_MAY_LOAD_RE), and an
 *    event handler attribute (on...) whose code cannot be one the neutraliser holds (see
 *    handler_may_load); one that may be stops the skip as a style that may load does;
 *  - for a quiet name in `text` (title, textarea, style), its raw text up to the end
 *    tag, when the end tag is in buf (and, for <style>, the text cannot load anything, or
 *    the neutraliser has let the very same element through, as below);
 *    for a <script>, hosted, with a URL attribute (src), or a data block whose start tag
 *    the neutraliser kept (in settled), or inline when it has let the very same element
 *    through on this consent choice (skip's elements, by choice), and its script data up to
 *    its end tag (followed through its escape states when it holds "<!--");
 *  - an unknown host a hosted tag names that the page has not reported yet (not in seen) is
 *    settled too: seen gets it once the tag is stepped over (named in one of the tag's own
 *    URL attributes, hosted_urls: in another, which loads nothing, it stops the skip).
 * With quiet_ok's FOREIGN bit it also steps over a whole <svg> or <math> element whose
 * descendants are all among `foreign` (elements that load nothing, rewrite/foreign.py),
 * with text, comments and no style that may load: the tree builder's stack of open
 * elements is modelled as rewrite/foreign.py does, and the element is stepped over only
 * when it closes in buf and nothing in it would reach the neutraliser changed.
 * Everything skipped is emitted as is (skip writes it to the scanner's output list, with the
 * tags the neutraliser's tag memo knows made as it makes them), so the output is the
 * pure-Python rewriter's byte for byte (tests/rewrite run both).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__ /* (baseline on x86-64; elsewhere the scans are byte loops and memchr) */
#include <emmintrin.h>
#endif

#define MAX_NAME 16
#define MAX_NAMES 64
#define MAX_DEPTH 64 /* open foreign elements the C loop follows */
#define MAX_SLOT 64  /* the mark slot's bytes, at most */
#define SPAN_BYTES 64 /* a shorter run of the page goes out as a copy (see Span) */

/* Tag names, lowercase, with the set of names (one bit each) of every length and of every
 * first byte (a letter's in either case), so most tags are told apart by two loads and an
 * AND; and each name's case bits (0x20 where it has a letter), which set in the bytes read
 * make them compare as the name's in either case. */
typedef struct {
    Py_ssize_t count;
    uint64_t by_len[MAX_NAME];
    uint64_t by_first[256];
    unsigned char len[MAX_NAMES];
    char name[MAX_NAMES][MAX_NAME];
    char fold[MAX_NAMES][MAX_NAME];
} Names;

typedef struct {
    PyObject_HEAD
    Names interesting; /* tag names that stop the skip */
    /* by index in interesting: */
    char quiet[MAX_NAMES];  /* may be stepped over when quiet_ok */
    Names keys;             /* keys.name[i]: the key attribute, or "" */
    char text[MAX_NAMES];   /* its raw text is stepped over too */
    char root[MAX_NAMES];   /* <svg> or <math>: 1 (SVG) or 2 (MathML) */
    Names foreign;          /* the foreign elements that load nothing */
    /* by index in foreign: an integration point in SVG / in MathML */
    char svg_point[MAX_NAMES];
    char math_point[MAX_NAMES];
    char hosted[MAX_NAMES]; /* by index in interesting: its URLs may name settled hosts */
    char key_urls[MAX_NAMES];  /* what its key holds: KEY_URL, KEY_URL_LIST, KEY_EQUIV or 0 */
    char data_urls[MAX_NAMES]; /* an image's: a data: URL in it names no host */
    Names urls;             /* the attributes those URLs are in */
    /* by index in interesting: a hosted tag's own URL attributes (by index in urls; a
     * <script>'s: with one, no inline code) */
    uint64_t own_urls[MAX_NAMES];
    Py_ssize_t script;      /* the index of "script" in interesting */
    char remembered[MAX_NAMES]; /* by index in interesting: its edit may come from the memo */
    Py_ssize_t tag_bytes;   /* the longest start tag looked up in the memo */
    Py_ssize_t element_bytes; /* the longest element element_outcome looks up */
    char mark_slot[MAX_SLOT]; /* where a remembered tag's new bytes take the mark (see stamp) */
    Py_ssize_t mark_slot_len;
    uint64_t plain; /* (by index in interesting) quiet names with a key and nothing else to
                     * check: no text, no URLs (hosted), not a script, <svg> or <math> */
    /* what may_matter reads (see Key.firsts): by index in interesting, with its key, without
     * and with the urls; and with the urls and no key */
    uint32_t key_firsts[MAX_NAMES][2][MAX_NAME];
    uint32_t url_firsts[MAX_NAME];
} Skipper;

/* quiet_ok's bits: every quiet tag (the guard is placed and no <base> points elsewhere),
 * the quiet tags with a key attribute (the guard is placed), whole foreign elements. */
enum { QUIET = 1, KEYED = 2, FOREIGN = 4 };
enum { NS_SVG = 1, NS_MATH = 2 };

/* What tag_rest saw of the tag's attributes. */
enum {
    HAS_STYLE = 1,
    STYLE_MAY_LOAD = 2,
    HAS_KEY = 4,
    SELF_CLOSING = 8,
    UNSETTLED = 16,
    HAS_URL = 32, /* one of the tag's own URL attributes (for a script: it is no inline code) */
};

#define MAX_PENDING 4

/* What one tag's URLs add to the page's report if the tag is stepped over: the unknown hosts
 * it names that the page has not reported yet (at most MAX_PENDING, owned), and which URL
 * attributes it has (by index in urls: the neutraliser reads the first of each name only). */
typedef struct {
    int count;
    uint64_t urls_met;
    PyObject *host[MAX_PENDING];
} Pending;

/* What the settled dict says of the hosts met in one skip, so each is looked up once (the
 * dict cannot change during a skip, and seen only grows): by slot, the host (lowercase, at
 * most HOST_BYTES; len 0: empty) and whether it is unsettled, settled and not to be reported,
 * or settled and in seen already. A host to report that seen lacks is pending: looked up each
 * time. */
#define HOST_SLOTS 32
#define HOST_BYTES 48
enum { HOST_UNSETTLED = 1, HOST_QUIET, HOST_SEEN };
typedef struct {
    unsigned char len[HOST_SLOTS];
    unsigned char state[HOST_SLOTS];
    char host[HOST_SLOTS][HOST_BYTES];
} Hosts;

/* The key attribute tag_rest looks for (len 0: none); with urls, the URL attributes whose
 * values must name no host but settled ones (a dict of host bytes -> whether the page must
 * report it, and the set of hosts it has), and what they add to it. */
typedef struct {
    const char *name;
    Py_ssize_t len;
    const Names *urls;
    uint64_t own_urls; /* (by index in urls) the tag's own URL attributes: HAS_URL; a host
                        * in another tag's is never reported (see unreported) */
    PyObject *settled, *seen;
    Pending *pending;
    int data_urls; /* an image's: a data: URL names no host */
    int key_urls;  /* the key attribute holds a URL or a list of them (KEY_URL...), read as
                      URLs are (see markup), or an http-equiv (KEY_EQUIV), or where a form
                      posts (KEY_ACTION), or 0: the tag stops wherever the key is */
    Hosts *hosts;  /* with settled: what the skip knows of hosts already */
    const char *endpoint; /* for KEY_ACTION: the endpoints' word (see inert_action) */
    Py_ssize_t endpoint_len;
    /* by name length: the first bytes, folded (first_bit), of the names that are a style,
     * the key or one of urls at that length, and 'o' from 3 bytes on (an event handler: "on"
     * and a letter at least; see may_matter) */
    const uint32_t *firsts;
    int unreported; /* an attribute the tag loads nothing from: a host to report stops it */
} Key;

/* A name's first byte as one bit of 32: a letter's in either case the same (other bytes may
 * share a bit with one: may_matter reads them as it, which only costs a closer look). */
static inline uint32_t first_bit(unsigned char c) { return (uint32_t)1 << ((c | 0x20) & 31); }

/* Key.firsts with no key and no urls: a style and the event handlers. */
#define HANDLER_FIRST ((uint32_t)1 << ('o' & 31))
static const uint32_t STYLE_FIRSTS[MAX_NAME] = {
    [3] = HANDLER_FIRST,  [4] = HANDLER_FIRST,  [5] = HANDLER_FIRST | (uint32_t)1 << ('s' & 31),
    [6] = HANDLER_FIRST,  [7] = HANDLER_FIRST,  [8] = HANDLER_FIRST,  [9] = HANDLER_FIRST,
    [10] = HANDLER_FIRST, [11] = HANDLER_FIRST, [12] = HANDLER_FIRST, [13] = HANDLER_FIRST,
    [14] = HANDLER_FIRST, [15] = HANDLER_FIRST};
static const Key NO_KEY = {"", 0, NULL, 0, NULL, NULL, NULL, 0, 0, NULL, NULL, 0, STYLE_FIRSTS, 0};
enum { KEY_URL = 1, KEY_URL_LIST = 2, KEY_EQUIV = 3, KEY_ACTION = 4 };
#define KEY_MET ((uint64_t)1 << 63) /* in urls_met: the key attribute was met */

/* Byte classes, as the tokenizer sees them. */
enum { WS = 1, SLASH = 2, GT = 4, EQ = 8 };
#define DELIM (WS | SLASH | GT)
static unsigned char cls[256];

static int is_ws(unsigned char c) { return cls[c] & WS; }

#ifdef __SSE2__
/* Which of 16 bytes are c (0xff each). */
static inline __m128i eq(__m128i v, char c) { return _mm_cmpeq_epi8(v, _mm_set1_epi8(c)); }

/* Which of 16 bytes are in the classes in want, as a bit mask, and more: for WS, every
 * byte up to ' ' (the rare control bytes that are no white space are told apart after). */
static inline unsigned in_class(__m128i v, int want) {
    __m128i m = _mm_setzero_si128();
    if (want & WS)
        m = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(' ')), v);
    if (want & SLASH)
        m = _mm_or_si128(m, eq(v, '/'));
    if (want & GT)
        m = _mm_or_si128(m, eq(v, '>'));
    if (want & EQ)
        m = _mm_or_si128(m, eq(v, '='));
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* The first byte of b[q..n) in one of the classes in want, or n. Names and values are
 * short: 16 bytes are looked at in a few instructions, where a byte loop would mispredict
 * its exit on every one. */
static inline Py_ssize_t span(const unsigned char *b, Py_ssize_t q, Py_ssize_t n, int want) {
#ifdef __SSE2__
    for (; q + 16 <= n; q += 16)
        for (unsigned m = in_class(_mm_loadu_si128((const __m128i *)(b + q)), want); m;
             m &= m - 1) {
            Py_ssize_t at = q + __builtin_ctz(m);
            if (!(want & WS) || b[at] > ' ' || is_ws(b[at]))
                return at;
        }
#endif
    while (q < n && !(cls[b[q]] & want))
        q++;
    return q;
}

#ifdef __SSE2__
/* Which of the 16 bytes at s are c, as a bit mask. */
static inline unsigned bytes_eq(const unsigned char *s, unsigned char c) {
    return (unsigned)_mm_movemask_epi8(eq(_mm_loadu_si128((const __m128i *)s), c));
}

/* Which of 16 bytes lie in lo..hi (0xff each): v - lo, wrapped, is at most hi - lo. */
static inline __m128i in_range(__m128i v, char lo, char hi) {
    __m128i off = _mm_sub_epi8(v, _mm_set1_epi8(lo));
    return _mm_cmpeq_epi8(_mm_min_epu8(off, _mm_set1_epi8((char)(hi - lo))), off);
}

typedef unsigned (*Marks)(__m128i); /* a bit for each of 16 bytes */
#define SSE_MARKS(f) (f)
#else
typedef const void *Marks;
#define SSE_MARKS(f) NULL
#endif

/* The first byte of b[p..end) that marks (16 at a time) or is_marked (one at a time: a
 * buffer under 16 bytes, no SSE2) marks, or end. The last bytes, fewer than 16, are read as
 * the 16 ending at end (b[0..end) is the caller's buffer), their bits shifted past those
 * before p: no byte loop for the tail, whose exit a loop would mispredict on every short
 * URL. Inlined: marks and is_marked are constants. */
static inline __attribute__((always_inline)) Py_ssize_t
first_marked(const unsigned char *b, Py_ssize_t p, Py_ssize_t end, Marks marks,
             int (*is_marked)(unsigned char)) {
#ifdef __SSE2__
    if (end >= 16) {
        for (; p + 16 <= end; p += 16) {
            unsigned bits = marks(_mm_loadu_si128((const __m128i *)(b + p)));
            if (bits)
                return p + __builtin_ctz(bits);
        }
        if (p == end)
            return end;
        unsigned bits = marks(_mm_loadu_si128((const __m128i *)(b + end - 16))) >> (16 - (end - p));
        return bits ? p + __builtin_ctz(bits) : end;
    }
#else
    (void)marks;
#endif
    while (p < end && !is_marked(b[p]))
        p++;
    return p;
}

/* The first c in b[q..n), or n: most runs of text between tags and quoted values are short,
 * so the first 64 bytes are looked at inline, 16 at a time; memchr takes a longer run. */
static inline Py_ssize_t find(const unsigned char *b, Py_ssize_t q, Py_ssize_t n,
                              unsigned char c) {
#ifdef __SSE2__
    if (q + 64 <= n) { /* (unrolled: one bound checked for the four loads) */
        for (int k = 0; k < 64; k += 16) {
            unsigned m = bytes_eq(b + q + k, c);
            if (m)
                return q + k + __builtin_ctz(m);
        }
        q += 64;
    } else {
        for (; q + 16 <= n; q += 16) {
            unsigned m = bytes_eq(b + q, c);
            if (m)
                return q + __builtin_ctz(m);
        }
    }
#endif
    const unsigned char *at = memchr(b + q, c, (size_t)(n - q));
    return at == NULL ? n : at - b;
}

static int is_delim(unsigned char c) { return cls[c] & DELIM; }

static int is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }

static int lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c | 0x20 : c; }

/* Whether b[p..end) holds the lowercase ASCII word w, in any case. */
static int contains_ci(const unsigned char *b, Py_ssize_t p, Py_ssize_t end, const char *w,
                       Py_ssize_t len) {
    for (; p + len <= end; p++) {
        Py_ssize_t i = 0;
        while (i < len && lower(b[p + i]) == (unsigned char)w[i])
            i++;
        if (i == len)
            return 1;
    }
    return 0;
}

/* Whether b[p..q) ends with the lowercase ASCII word w (len bytes), in any case. */
static int ends_ci(const unsigned char *b, Py_ssize_t p, Py_ssize_t q, const char *w,
                   Py_ssize_t len) {
    return q - len >= p && contains_ci(b, q - len, q, w, len);
}

/* Whether a word of css.STYLE_MAY_LOAD_RE is at b[q] in the CSS b[p..end): a '\\' or '&',
 * "--", url(, image(, image-set(, src( (looked for back from their '(') or @import, in
 * any case. */
static int css_word_at(const unsigned char *b, Py_ssize_t p, Py_ssize_t q, Py_ssize_t end) {
    switch (b[q]) {
    case '\\':
    case '&':
        return 1;
    case '-':
        return q + 1 < end && b[q + 1] == '-';
    case '(':
        return ends_ci(b, p, q, "url", 3) || ends_ci(b, p, q, "image", 5)
               || ends_ci(b, p, q, "image-set", 9) || ends_ci(b, p, q, "src", 3);
    case '@':
        return q + 7 <= end && contains_ci(b, q + 1, q + 7, "import", 6);
    }
    return 0;
}

/* css.STYLE_MAY_LOAD_RE: whether CSS in b[p..end) can name a URL at all. One pass, in
 * which only the bytes that may start or end a word are looked at (16 at a time). */
static int css_may_load(const unsigned char *b, Py_ssize_t p, Py_ssize_t end) {
    Py_ssize_t q = p;
#ifdef __SSE2__
    for (; q + 17 <= end; q += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(b + q));
        __m128i next = _mm_loadu_si128((const __m128i *)(b + q + 1));
        __m128i m = _mm_or_si128(_mm_or_si128(eq(v, '\\'), eq(v, '&')),
                                 _mm_or_si128(eq(v, '('), eq(v, '@')));
        m = _mm_or_si128(m, _mm_and_si128(eq(v, '-'), eq(next, '-')));
        for (unsigned bits = (unsigned)_mm_movemask_epi8(m); bits; bits &= bits - 1)
            if (css_word_at(b, p, q + __builtin_ctz(bits), end))
                return 1;
    }
#endif
    for (; q < end; q++)
        if (css_word_at(b, p, q, end))
            return 1;
    return 0;
}

/* The index in names of b[p..p+len), compared in ASCII lowercase; -1 if it is none. */
static Py_ssize_t lookup(const unsigned char *b, Py_ssize_t p, Py_ssize_t len,
                         const Names *names) {
    if (len <= 0 || len >= MAX_NAME)
        return -1;
    uint64_t maybe = names->by_len[len] & names->by_first[b[p]];
    while (maybe) {
        int i = __builtin_ctzll(maybe);
        Py_ssize_t k = 1;
        while (k < len && lower(b[p + k]) == (unsigned char)names->name[i][k])
            k++;
        if (k == len)
            return i;
        maybe &= maybe - 1;
    }
    return -1;
}

/* Whether b[p..] starts with the lowercase ASCII word w (len bytes), in any case. */
static int starts_ci(const unsigned char *b, Py_ssize_t p, Py_ssize_t end, const char *w,
                     Py_ssize_t len) {
    return p + len <= end && contains_ci(b, p, p + len, w, len);
}

/* Whether c ends a host name the C loop reads as is (lower-cased): anything but letters,
 * digits, '.', '-' and '_', from '%' and '@' to ':' (a port) and non-ASCII (IDNA), leaves
 * the URL to the neutraliser. */
static int ends_host(unsigned char c) {
    return !(is_alpha(c) || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_');
}

#ifdef __SSE2__
/* Which of 16 bytes end a host name (ends_host), as a bit mask. */
static inline unsigned host_end_marks(__m128i v) {
    __m128i m = _mm_or_si128(in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 'z'),
                             in_range(v, '0', '9'));
    m = _mm_or_si128(m, _mm_or_si128(eq(v, '.'), _mm_or_si128(eq(v, '-'), eq(v, '_'))));
    return (unsigned)_mm_movemask_epi8(m) ^ 0xffff;
}
#endif

/* dict[bytes(s[0..len))], borrowed, or NULL when absent (errors cleared: absent too). */
static PyObject *get_bytes(PyObject *dict, const char *s, Py_ssize_t len) {
    PyObject *key = PyBytes_FromStringAndSize(s, len);
    PyObject *value = key == NULL ? NULL : PyDict_GetItemWithError(dict, key);
    Py_XDECREF(key);
    if (value == NULL)
        PyErr_Clear();
    return value;
}

/* Whether the host b[p..p+len) is settled: its verdict is "loads, path aside". An unknown
 * host the page has not reported yet is pending: it goes into the report (seen) if the tag
 * is stepped over, as the neutraliser would put it there. */
static int settled_host(const unsigned char *b, Py_ssize_t p, Py_ssize_t len, Key key) {
    char host[256];
    if (key.settled == NULL || len > (Py_ssize_t)sizeof host)
        return 0;
    for (Py_ssize_t i = 0; i < len; i++)
        host[i] = (char)lower(b[p + i]);
    Hosts *hosts = len <= HOST_BYTES ? key.hosts : NULL;
    const unsigned char *h = (const unsigned char *)host;
    int slot = (int)((len * 7 + h[0] * 31 + h[len / 2] * 5 + h[len - 1]) % HOST_SLOTS);
    if (hosts != NULL && hosts->len[slot] == len && memcmp(hosts->host[slot], host, len) == 0)
        return hosts->state[slot] != HOST_UNSETTLED;
    PyObject *reported = get_bytes(key.settled, host, len);
    int state = reported == NULL ? HOST_UNSETTLED : reported != Py_True ? HOST_QUIET : 0;
    if (!state) {
        PyObject *text = PyUnicode_DecodeASCII(host, len, NULL);
        int seen = text == NULL ? -1 : PySet_Contains(key.seen, text);
        if (seen == 0 && key.unreported) { /* (another tag's attribute: nothing to report) */
            Py_DECREF(text);
            return 1;
        }
        if (seen == 0 && key.pending->count < MAX_PENDING) {
            key.pending->host[key.pending->count++] = text;
            return 1;
        }
        Py_XDECREF(text);
        if (seen < 0)
            PyErr_Clear();
        if (seen != 1)
            return 0;
        state = HOST_SEEN;
    }
    if (hosts != NULL) {
        hosts->len[slot] = (unsigned char)len;
        hosts->state[slot] = (unsigned char)state;
        memcpy(hosts->host[slot], host, (size_t)len);
    }
    return state != HOST_UNSETTLED;
}

/* A byte no URL the C loop reads as settled holds: a control byte, DEL or '\\' (a slash to
 * the URL parser). */
static int is_url_control(unsigned char c) { return c < 0x20 || c == 0x7f || c == '\\'; }

static int is_url_stop(unsigned char c) {
    return c == ' ' || c == ',' || c == '?' || c == '#' || c == ':' || c == '&'
           || is_url_control(c);
}

#ifdef __SSE2__
/* Which of 16 bytes are url stops (is_url_stop), as a bit mask. */
static inline unsigned url_stop_marks(__m128i v) {
    __m128i low = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
    __m128i m = _mm_or_si128(_mm_or_si128(eq(v, ' '), eq(v, ',')),
                             _mm_or_si128(_mm_or_si128(eq(v, '?'), eq(v, '#')),
                                          _mm_or_si128(eq(v, ':'), eq(v, '&'))));
    m = _mm_or_si128(m, _mm_or_si128(low, _mm_or_si128(eq(v, 0x7f), eq(v, '\\'))));
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* The first byte of b[p..end) that urls_settled reads (' ' and ',' between URLs in a list,
 * '?', '#', ':', '&', and the control bytes that leave a URL to the neutraliser), or end:
 * real pages' URLs are long (query strings, srcset lists). */
static Py_ssize_t url_stop(const unsigned char *b, Py_ssize_t p, Py_ssize_t end) {
    return first_marked(b, p, end, SSE_MARKS(url_stop_marks), is_url_stop);
}

/* The 8 bytes at s as one number (in the machine's order), to compare 8 bytes at once. */
static inline uint64_t load8(const void *s) {
    uint64_t w;
    memcpy(&w, s, 8);
    return w;
}

/* Where the host starts after "https://" or "http://" (letters in any case) at b[p], or -1:
 * from one 8-byte load, the case bit set in the letters' places only (':' and '/' compared
 * as they are, so no other byte matches). */
static inline Py_ssize_t http_host(const unsigned char *b, Py_ssize_t p, Py_ssize_t end) {
    if (p + 8 > end)
        return starts_ci(b, p, end, "http://", 7) ? p + 7 : -1;
    uint64_t w = load8(b + p);
    if ((w | load8("\x20\x20\x20\x20\x20\0\0\0")) == load8("https://"))
        return p + 8;
    uint64_t seven = load8("\xff\xff\xff\xff\xff\xff\xff\0");
    uint64_t http = (w | load8("\x20\x20\x20\x20\0\0\0\0")) & seven;
    return http == load8("http://\0") ? p + 7 : -1;
}

/* Whether a URL attribute's value b[p..end) (a URL, or a list: a srcset) names no host
 * but settled ones: each URL, between spaces and commas, is relative without a colon before
 * its query, or http(s)://host or //host, the host ending the value or followed by '/', '?'
 * or '#', or (for an image, key.data_urls) a data: URL. No control byte or '\\' (a slash to
 * the URL parser) at all (url_stop stops at them). A character reference may hide a slash, a
 * colon or, in a list, a space or comma that starts another URL: only "&amp;" is read as plain,
 * and in a single URL any other once the host is behind (after the host, or a relative URL's
 * '?' or '#'). */
static int urls_settled(const unsigned char *b, Py_ssize_t p, Py_ssize_t end, int list,
                        Key key) {
    while (p < end) {
        if (b[p] == ' ' || b[p] == ',') {
            p++;
            continue;
        }
        Py_ssize_t host = (b[p] | 0x20) == 'h'                        ? http_host(b, p, end)
                          : b[p] == '/' && p + 1 < end && b[p + 1] == '/' ? p + 2
                                                                          : -1;
        int behind = host >= 0; /* the host is behind: the rest is path, query or data */
        if (behind) {
            Py_ssize_t q = first_marked(b, host, end, SSE_MARKS(host_end_marks), ends_host);
            if (q == host || (q < end && b[q] != '/' && b[q] != '?' && b[q] != '#')
                    || !settled_host(b, host, q - host, key))
                return 0;
            p = q;
        } else if (key.data_urls && starts_ci(b, p, end, "data:", 5)) {
            behind = 1; /* an image's own bytes: it names no host */
            p += 5;
        }
        for (p = url_stop(b, p, end); p < end && b[p] != ' ' && b[p] != ',';
             p = url_stop(b, p + 1, end)) {
            if (b[p] == '?' || b[p] == '#')
                behind = 1;
            else if (is_url_control(b[p]))
                return 0;
            else if (b[p] == ':' && !behind)
                return 0; /* a scheme (javascript:, http:host) */
            else if (b[p] == '&' && (list || !behind)
                     && !(p + 5 <= end && memcmp(b + p, "&amp;", 5) == 0))
                return 0;
        }
    }
    return 1;
}

/* Whether an http-equiv value b[v..w) is plainly neither refresh, set-cookie nor
 * content-security-policy (what Neutraliser.start_tag and meta_tag read): letters, digits
 * and '-' alone (no reference, no space). */
static int inert_equiv(const unsigned char *b, Py_ssize_t v, Py_ssize_t w) {
    for (Py_ssize_t i = v; i < w; i++)
        if (!is_alpha(b[i]) && !(b[i] >= '0' && b[i] <= '9') && b[i] != '-')
            return 0;
    return !(w - v == 7 && contains_ci(b, v, w, "refresh", 7))
           && !(w - v == 10 && contains_ci(b, v, w, "set-cookie", 10))
           && !(w - v == 23 && contains_ci(b, v, w, "content-security-policy", 23));
}

/* Whether a form's action b[v..w) plainly cannot lead to the proxy's endpoints
 * (neutralise.at_endpoints): the endpoints' word (the prefix's longest segment, lowercase:
 * neutralise.endpoint_word) is not in it in any case, nor a reference, an escape or a tab or
 * newline that the URL parser drops (any of which could spell it). */
static int inert_action(const unsigned char *b, Py_ssize_t v, Py_ssize_t w, const Key *key) {
    if (key->endpoint_len == 0)
        return 0;
    for (Py_ssize_t i = v; i < w; i++)
        if (b[i] == '%' || b[i] == '&' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r')
            return 0;
    return !contains_ci(b, v, w, key->endpoint, key->endpoint_len);
}

/* The words one of which an event handler's code holds if it may load in a way no run-time
 * hook holds (policy.HANDLER_WORDS: policy._UNHOOKED_WORDS, and "data:" for a module of that
 * scheme; tests/rewrite/test_scanner.py checks each word). */
static const char *const HANDLER_WORDS[] = {"import",   "worker", "worklet",  "location",
                                            "navigate", "equiv",  "rtcpeer",  "setnamed",
                                            "execcommand", "data:"};

/* Whether one of HANDLER_WORDS starts at b[i], in any case. */
static int handler_word_at(const unsigned char *b, Py_ssize_t i, Py_ssize_t w) {
    for (size_t k = 0; k < sizeof HANDLER_WORDS / sizeof *HANDLER_WORDS; k++)
        if (starts_ci(b, i, w, HANDLER_WORDS[k], (Py_ssize_t)strlen(HANDLER_WORDS[k])))
            return 1;
    return 0;
}

/* The 4 bytes at s as one number (in the machine's order). */
static inline uint32_t load4(const void *s) {
    uint32_t w;
    memcpy(&w, s, 4);
    return w;
}

/* Whether an event handler's value b[v..w) (an attribute named "on"...) may be code the
 * neutraliser holds (neutralise.handler_may_load_re): a '\\' (an escape may spell anything)
 * or a character reference but "&amp;" (a '&' and a letter, digit or '#'), or else a '/' or
 * ':' (a URL) and one of policy.HANDLER_WORDS (handler_word_at, tried where the 4 bytes,
 * case bits set, start one: a handler may be a page's whole loader script). */
static int hides_code(const unsigned char *b, Py_ssize_t i, Py_ssize_t w) {
    return b[i] == '\\'
           || (b[i] == '&' && i + 1 < w
               && (is_alpha(b[i + 1]) || (b[i + 1] >= '0' && b[i + 1] <= '9') || b[i + 1] == '#')
               && !(i + 5 <= w && memcmp(b + i, "&amp;", 5) == 0));
}

static int handler_may_load(const unsigned char *b, Py_ssize_t v, Py_ssize_t w) {
    int url = 0;
    Py_ssize_t i = v;
#ifdef __SSE2__
    for (; i + 16 <= w; i += 16) { /* (only the bytes that matter are looked at) */
        __m128i x = _mm_loadu_si128((const __m128i *)(b + i));
        __m128i m = _mm_or_si128(_mm_or_si128(eq(x, '\\'), eq(x, '&')),
                                 _mm_or_si128(eq(x, '/'), eq(x, ':')));
        for (unsigned bits = (unsigned)_mm_movemask_epi8(m); bits; bits &= bits - 1) {
            Py_ssize_t k = i + __builtin_ctz(bits);
            if (hides_code(b, k, w))
                return 1;
            url |= b[k] == '/' || b[k] == ':';
        }
    }
#endif
    for (; i < w; i++) {
        if (hides_code(b, i, w))
            return 1;
        url |= b[i] == '/' || b[i] == ':';
    }
    if (!url)
        return 0;
    for (Py_ssize_t i = v; i + 5 <= w; i++) { /* (the shortest words: "equiv", "data:") */
        uint32_t x = load4(b + i) | 0x20202020u; /* (no other byte becomes a letter) */
        if ((x == load4("impo") || x == load4("work") || x == load4("loca") || x == load4("navi")
             || x == load4("equi") || x == load4("exec") || x == load4("rtcp")
             || x == load4("setn") || x == load4("data"))
                && handler_word_at(b, i, w))
            return 1;
    }
    return 0;
}

/* The flags of an attribute b[a..q) with value b[v..w) that is neither a style nor a key or
 * URL attribute: an event handler whose code may load counts as a style that may load (the
 * tag reaches the neutraliser, or its memo). Out of line: attr_flags is read for every
 * attribute of every tag, few of which start with "o". */
static __attribute__((noinline)) int handler_flags(const unsigned char *b, Py_ssize_t a,
                                                   Py_ssize_t q, Py_ssize_t v, Py_ssize_t w) {
    return (b[a] | 0x20) == 'o' && q - a > 2 && (b[a + 1] | 0x20) == 'n' && v >= 0
                   && handler_may_load(b, v, w)
               ? HAS_STYLE | STYLE_MAY_LOAD
               : 0;
}

/* attr_flags for an attribute that may be a style, an event handler, the key or a URL
 * attribute (may_matter). */
static __attribute__((noinline)) int named_attr_flags(const unsigned char *b, Py_ssize_t a,
                                                      Py_ssize_t q, Py_ssize_t v, Py_ssize_t w,
                                                      const Key *key) {
    if (key->len && q - a == key->len && contains_ci(b, a, q, key->name, key->len)) {
        if (!key->key_urls || v < 0 || key->pending->urls_met & KEY_MET)
            return HAS_KEY;
        key->pending->urls_met |= KEY_MET;
        if (key->key_urls == KEY_EQUIV)
            return inert_equiv(b, v, w) ? 0 : HAS_KEY;
        if (key->key_urls == KEY_ACTION)
            return inert_action(b, v, w, key) ? 0 : HAS_KEY;
        return urls_settled(b, v, w, key->key_urls == KEY_URL_LIST, *key) ? 0 : UNSETTLED;
    }
    Py_ssize_t url = key->urls == NULL ? -1 : lookup(b, a, q - a, key->urls);
    if (url >= 0) {
        int own = key->own_urls & (uint64_t)1 << url ? HAS_URL : 0;
        if (key->pending->urls_met & (uint64_t)1 << url)
            return UNSETTLED | own; /* a second one: the neutraliser reads the first only */
        key->pending->urls_met |= (uint64_t)1 << url;
        if (key->settled == NULL)
            return own; /* (only whether it has one is asked) */
        Py_ssize_t len = key->urls->len[url];
        int list = len >= 6 && memcmp(key->urls->name[url] + len - 6, "srcset", 6) == 0;
        Key read = *key; /* (another tag's URL attribute: the neutraliser reports none of it) */
        read.unreported = !own;
        return (v >= 0 && !urls_settled(b, v, w, list, read) ? UNSETTLED : 0) | own;
    }
    if (q - a != 5 || (b[a] | 0x20) != 's' || !contains_ci(b, a, q, "style", 5))
        return (b[a] | 0x20) == 'o' ? handler_flags(b, a, q, v, w) : 0;
    return HAS_STYLE | (v >= 0 && css_may_load(b, v, w) ? STYLE_MAY_LOAD : 0);
}

/* Whether an attribute named b[a..q) may be a style, the key or one of the URL attributes or
 * an event handler (a length and a first byte of theirs: key->firsts; a longer name only an
 * event handler's, 'o'): most of a tag's (class, id, title, alt...) are none, told from its
 * first byte and length in a few instructions and no call. */
static inline int may_matter(const unsigned char *b, Py_ssize_t a, Py_ssize_t q,
                             const Key *key) {
    Py_ssize_t len = q - a;
    return len < MAX_NAME ? (key->firsts[len] & first_bit(b[a])) != 0 : (b[a] | 0x20) == 'o';
}

/* The flags for an attribute b[a..q) with value b[v..w) (v < 0: no value). */
static inline int attr_flags(const unsigned char *b, Py_ssize_t a, Py_ssize_t q,
                             Py_ssize_t v, Py_ssize_t w, const Key *key) {
    return may_matter(b, a, q, key) ? named_attr_flags(b, a, q, v, w, key) : 0;
}

static Py_ssize_t attrs_rest(const unsigned char *b, Py_ssize_t q, Py_ssize_t n,
                             const Key *key, int *flags);

/* tag_rest from the end of the name (at q), where name_index left it. */
static inline Py_ssize_t tag_end(const unsigned char *b, Py_ssize_t q, Py_ssize_t n,
                                 const Key *key, int *flags) {
    return q < n && b[q] == '>' ? q + 1 : attrs_rest(b, q, n, key, flags);
}

/* _TAG_REST after the first letter of the name: the end of the tag ('>' + 1), or -1
 * if buf ends first. Quoted values may hold '>'; one with no closing quote in buf leaves
 * the tag unended in buf, as in the regex (scanner._ATTR). *flags gets what the attributes hold,
 * and SELF_CLOSING when the '/' before the '>' is no part of a value (foreign.self_closing). */
static inline Py_ssize_t tag_rest(const unsigned char *b, Py_ssize_t q, Py_ssize_t n,
                                  const Key *key, int *flags) {
    return tag_end(b, span(b, q, n, DELIM), n, key, flags);
}

/* The closing quote of a value from q, or n (the quote a constant: find's compare is then
 * a constant too). */
static inline Py_ssize_t quote_end(const unsigned char *b, Py_ssize_t q, Py_ssize_t n,
                                   unsigned char quote) {
    return quote == '"' ? find(b, q, n, '"') : find(b, q, n, '\'');
}

/* Most attributes, name="value" or name='value' within 16 bytes from a, read from one load
 * (where the name ends at '=', the quote after it, the closing quote): the end of the
 * attribute, its flags added, or -1 when it is no such attribute (attrs_rest reads it). */
static inline Py_ssize_t quoted_attr(const unsigned char *b, Py_ssize_t a, Py_ssize_t n,
                                     const Key *key, int *flags) {
#ifdef __SSE2__
    if (a + 16 > n)
        return -1;
    __m128i v = _mm_loadu_si128((const __m128i *)(b + a));
    unsigned ends = in_class(v, DELIM | EQ) & ~1u; /* (or a control byte: no '=') */
    unsigned at = ends ? (unsigned)__builtin_ctz(ends) : 16;
    unsigned equals = (unsigned)_mm_movemask_epi8(eq(v, '='));
    if (at >= 15 || !(equals >> at & 1))
        return -1;
    /* the quote after the '=' and the closing one: the next of its kind in v, or past v */
    unsigned doubles = (unsigned)_mm_movemask_epi8(eq(v, '"'));
    unsigned kind = doubles >> (at + 1) & 1 ? doubles
                    : b[a + at + 1] == '\'' ? (unsigned)_mm_movemask_epi8(eq(v, '\''))
                                             : 0;
    if (!kind)
        return -1;
    unsigned quotes = kind >> (at + 2);
    Py_ssize_t close = quotes ? a + at + 2 + __builtin_ctz(quotes)
                              : quote_end(b, a + 16, n, b[a + at + 1]);
    if (close >= n)
        return -1; /* (attrs_rest finds the tag unended) */
    *flags |= attr_flags(b, a, a + at, a + at + 2, close, key);
    return close + 1;
#else
    return -1;
#endif
}

/* tag_rest from the end of the name at q: the attributes and the end of the tag. */
static Py_ssize_t attrs_rest(const unsigned char *b, Py_ssize_t q, Py_ssize_t n,
                             const Key *key, int *flags) {
    int slash = 0; /* the last byte taken was a '/' between attributes */
    while (q < n) {
        unsigned char c = b[q];
        if (c == '>') {
            *flags |= slash ? SELF_CLOSING : 0;
            return q + 1;
        }
        slash = c == '/';
        if (cls[c] & (WS | SLASH)) {
            q++;
            continue;
        }
        Py_ssize_t a = q, past; /* a name: its first byte may be anything, even '=' */
        while ((past = quoted_attr(b, a, n, key, flags)) >= 0) { /* (and a space after it) */
            q = past;
            if (q < n && b[q] == '>')
                return q + 1; /* (the loop's first step, taken here: no '/' before it) */
            if (q + 1 >= n || b[q] != ' ' || is_delim(b[q + 1]))
                break;
            a = ++q;
        }
        if (past >= 0)
            continue;
        q = span(b, q + 1, n, DELIM | EQ);
        Py_ssize_t r = q;
        while (r < n && is_ws(b[r]))
            r++;
        if (r >= n || b[r] != '=') {
            *flags |= attr_flags(b, a, q, -1, -1, key);
            continue; /* no value: the spaces are taken by the loop */
        }
        r++;
        while (r < n && is_ws(b[r]))
            r++;
        if (r < n && (b[r] == '"' || b[r] == '\'')) {
            Py_ssize_t close = quote_end(b, r + 1, n, b[r]);
            if (close >= n)
                return -1; /* the value, so the tag, goes on past buf */
            *flags |= attr_flags(b, a, q, r + 1, close, key);
            q = close + 1;
            /* (most often a space and the next name, taken as the loop would) */
            if (q + 1 < n && b[q] == ' ' && !is_delim(b[q + 1]))
                q++;
            continue;
        }
        Py_ssize_t v = r;
        r = span(b, r, n, WS | GT);
        *flags |= attr_flags(b, a, q, v, r, key);
        q = r;
    }
    return -1;
}

/* The index in names of the tag name at b[p..] (up to a delimiter, which must be in
 * buf), compared in ASCII lowercase; -1 if it is none of them. *end: where the name ends
 * (tag_end goes on from there). */
static inline Py_ssize_t name_index(const unsigned char *b, Py_ssize_t p, Py_ssize_t n,
                             const Names *names, Py_ssize_t *end) {
#ifdef __SSE2__
    if (p + 16 <= n) { /* a name within 16 bytes: its end and each candidate (its bytes
                        * with the candidate's case bits set) from one load, no byte loop */
        __m128i v = _mm_loadu_si128((const __m128i *)(b + p));
        unsigned m = in_class(v, DELIM);
        if (m && __builtin_expect(b[p + __builtin_ctz(m)] < ' ', 0))
            while (m && b[p + __builtin_ctz(m)] <= ' ' && !is_ws(b[p + __builtin_ctz(m)]))
                m &= m - 1; /* (a control byte is part of the name) */
        if (m) {
            unsigned len = (unsigned)__builtin_ctz(m), want = (1u << len) - 1;
            *end = p + len;
            for (uint64_t maybe = names->by_len[len] & names->by_first[b[p]]; maybe;
                 maybe &= maybe - 1) {
                int i = __builtin_ctzll(maybe);
                __m128i name = _mm_loadu_si128((const __m128i *)names->name[i]);
                __m128i fold = _mm_loadu_si128((const __m128i *)names->fold[i]);
                if (((unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_or_si128(v, fold), name))
                     & want) == want)
                    return i;
            }
            return -1;
        }
    }
#endif
    Py_ssize_t len = (*end = span(b, p + 1, n, DELIM)) - p; /* (b[p] is a letter) */
    if (p + len >= n)
        return -1; /* at the end of buf the name may go on in the next chunk */
    return lookup(b, p, len, names);
}

/* The start of the end tag "</name" + delimiter (scanner.END_TAG_RE) at or after q, or -1
 * if it is not in buf. */
static Py_ssize_t end_tag(const unsigned char *b, Py_ssize_t q, Py_ssize_t n,
                          const char *name, Py_ssize_t len) {
    for (; q + len + 2 < n; q++) {
        q = find(b, q, n, '<');
        if (q + len + 2 < n && b[q + 1] == '/' && is_delim(b[q + len + 2])) {
            Py_ssize_t i = 0;
            while (i < len && lower(b[q + 2 + i]) == (unsigned char)name[i])
                i++;
            if (i == len)
                return q;
        }
    }
    return -1;
}

/* Whether neutralise._MAY_BE_REMOTE_RE, [/\\][\t\n\r]*[/\\]|[&:], matches at b[p] in b[..end). */
static int remote_at(const unsigned char *b, Py_ssize_t p, Py_ssize_t end) {
    unsigned char c = b[p];
    if (c == '&' || c == ':')
        return 1;
    if (c == '/' || c == '\\') {
        Py_ssize_t q = p + 1;
        while (q < end && (b[q] == '\t' || b[q] == '\n' || b[q] == '\r'))
            q++;
        if (q < end && (b[q] == '/' || b[q] == '\\'))
            return 1;
    }
    return 0;
}

#ifdef __SSE2__
/* Which of 16 bytes may start _MAY_BE_REMOTE_RE ('&', ':', '/', '\\'), as a bit mask. */
static inline unsigned remote_marks(__m128i v) {
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(eq(v, '&'), eq(v, ':')),
                                                    _mm_or_si128(eq(v, '/'), eq(v, '\\'))));
}
#endif

/* Whether c may start _MAY_BE_REMOTE_RE. */
static int is_remote_sign(unsigned char c) {
    return c == '&' || c == ':' || c == '/' || c == '\\';
}

/* neutralise._MAY_BE_REMOTE_RE somewhere in b[p..end): only its first bytes are looked at. */
static int may_be_remote(const unsigned char *b, Py_ssize_t p, Py_ssize_t end) {
    for (; (p = first_marked(b, p, end, SSE_MARKS(remote_marks), is_remote_sign)) < end; p++)
        if (remote_at(b, p, end))
            return 1;
    return 0;
}

/* The end of the leftmost "--!?>" at or after q, or -1. */
static Py_ssize_t comment_end(const unsigned char *b, Py_ssize_t q, Py_ssize_t n) {
    for (; q + 2 < n; q++) {
        const unsigned char *dash = memchr(b + q, '-', (size_t)(n - q));
        if (dash == NULL)
            return -1;
        q = dash - b;
        if (q + 2 >= n)
            return -1;
        if (b[q + 1] != '-')
            continue;
        if (b[q + 2] == '>')
            return q + 3;
        if (b[q + 2] == '!' && q + 3 < n && b[q + 3] == '>')
            return q + 4;
    }
    return -1;
}

/* The end of the comment whose "<!--" is at p, or -1 if it does not end in buf. */
static Py_ssize_t comment(const unsigned char *b, Py_ssize_t p, Py_ssize_t n) {
    if (p + 4 < n && b[p + 4] == '>')
        return p + 5; /* <!--> */
    if (p + 5 < n && b[p + 4] == '-' && b[p + 5] == '>')
        return p + 6; /* <!---> */
    return comment_end(b, p + 4, n);
}

/* Whether the end tag's name at b[p..] is body: the scanner places the banner before the
 * last </body>, so it sees each one. */
static int body_end(const unsigned char *b, Py_ssize_t p, Py_ssize_t n) {
    return p + 4 < n && is_delim(b[p + 4]) && (b[p] | 0x20) == 'b' && (b[p + 1] | 0x20) == 'o'
           && (b[p + 2] | 0x20) == 'd' && (b[p + 3] | 0x20) == 'y';
}

/* Whether the end tag at p ("</", a letter, 16 bytes in buf) is </body>: body_end from one
 * 8-byte compare. */
static inline int end_tag_body(const unsigned char *b, Py_ssize_t p) {
    return ((load8(b + p) | load8("\0\0\x20\x20\x20\x20\0\0")) & load8("\xff\xff\xff\xff\xff\xff\0\0"))
               == load8("</body\0\0")
           && is_delim(b[p + 6]);
}

/* Whether the end tag's name at b[p..] is p or br, which break out of foreign content. */
static int breaks_out(const unsigned char *b, Py_ssize_t p, Py_ssize_t n) {
    if (p + 1 < n && (b[p] | 0x20) == 'p' && is_delim(b[p + 1]))
        return 1;
    return p + 2 < n && (b[p] | 0x20) == 'b' && (b[p + 1] | 0x20) == 'r' && is_delim(b[p + 2]);
}

/* The <svg> or <math> start tag at p (ns: its namespace): the end of its end tag if the
 * element closes in buf with nothing in it the scanner must see (ForeignContent's stack of
 * open elements followed: only names in self->foreign, no start tag inside an integration
 * point, no CDATA or bogus comment, no style that may load, no </p>, </br> or </body>),
 * else -1. */
static Py_ssize_t foreign_element(Skipper *self, const unsigned char *b, Py_ssize_t p,
                                  Py_ssize_t n, int ns) {
    struct {
        Py_ssize_t name;
        int ns;
    } stack[MAX_DEPTH];
    int depth = 0, flags = 0;
    Py_ssize_t q, i = name_index(b, p + 1, n, &self->foreign, &q);
    q = i < 0 ? -1 : tag_end(b, q, n, &NO_KEY, &flags);
    if (q < 0 || flags & (STYLE_MAY_LOAD | SELF_CLOSING))
        return -1;
    stack[depth].name = i;
    stack[depth++].ns = ns;
    while (q < n) {
        const unsigned char *lt = memchr(b + q, '<', (size_t)(n - q));
        if (lt == NULL || lt - b + 2 >= n)
            return -1;
        q = lt - b;
        unsigned char c = b[q + 1];
        if (is_alpha(c)) { /* a start tag: foreign, pushed unless it closes itself */
            Py_ssize_t top = stack[depth - 1].name;
            int top_ns = stack[depth - 1].ns;
            if ((top_ns == NS_SVG ? self->svg_point : self->math_point)[top])
                return -1; /* an integration point: HTML rules apply in it */
            flags = 0;
            i = name_index(b, q + 1, n, &self->foreign, &q);
            q = i < 0 ? -1 : tag_end(b, q, n, &NO_KEY, &flags);
            if (q < 0 || flags & STYLE_MAY_LOAD)
                return -1;
            if (!(flags & SELF_CLOSING)) {
                if (depth == MAX_DEPTH)
                    return -1;
                stack[depth].name = i;
                stack[depth++].ns = top_ns;
            }
        } else if (c == '/' && is_alpha(b[q + 2])) { /* an end tag: pops to its name */
            if (breaks_out(b, q + 2, n) || body_end(b, q + 2, n))
                return -1;
            i = name_index(b, q + 2, n, &self->foreign, &q);
            int ignored = 0;
            q = tag_end(b, q, n, &NO_KEY, &ignored);
            if (q < 0)
                return -1;
            int k = depth - 1;
            while (k >= 0 && stack[k].name != i)
                k--;
            if (i >= 0 && k >= 0) { /* (no element of its name open: it does nothing) */
                depth = k;
                if (depth == 0)
                    return q; /* the <svg>/<math> closed */
            }
        } else if (c == '/') { /* </> and bogus end tags */
            const unsigned char *gt = memchr(b + q + 2, '>', (size_t)(n - q - 2));
            if (gt == NULL)
                return -1;
            q = gt - b + 1;
        } else if (c == '!' || c == '?') { /* comments; CDATA and bogus ones stop */
            if (c == '?' || q + 3 >= n || b[q + 2] != '-' || b[q + 3] != '-')
                return -1;
            q = comment(b, q, n);
            if (q < 0)
                return -1;
        } else {
            q++; /* a lone '<' is text */
        }
    }
    return -1;
}

/* Where a skip writes what it steps over (see Skipper_skip): the list of output pieces, the
 * response's mark attribute (see stamp) and its blocked list (seen is its unknown hosts);
 * done: how far buf is in out. With the opener's next needle before the buffer's end
 * (guarded: limit, its position), an edit is applied only if it ends by limit and no <script>,
 * <svg> or <math> start tag came before it in the run (cut): scanner._open_candidate may
 * end the run at such a tag, or at the tag holding the needle, and what follows must be
 * left to the scanner. error: an exception was raised after the output or reports changed. */
typedef struct {
    PyObject *buf, *out, *mark, *blocked;
    const unsigned char *b;
    Py_ssize_t n, done, limit;
    int guarded, cut, error, spans;
} Output;

/* A run of the page (bytes, which nothing changes) in the output, not copied: the join of the
 * output pieces (Injector.take) copies it, once, into the response; a copy of each run first
 * (a run is most of a page) cost a malloc and a memcpy each. A buffer, read only. */
typedef struct {
    PyObject_HEAD
    PyObject *page;
    Py_ssize_t start, len;
} Span;

static void Span_dealloc(Span *self) {
    Py_DECREF(self->page);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Span_getbuffer(Span *self, Py_buffer *view, int flags) {
    return PyBuffer_FillInfo(view, (PyObject *)self, PyBytes_AS_STRING(self->page) + self->start,
                             self->len, 1, flags);
}

static Py_ssize_t Span_length(Span *self) { return self->len; }

static PyBufferProcs Span_as_buffer = {(getbufferproc)Span_getbuffer, NULL};
static PySequenceMethods Span_as_sequence = {.sq_length = (lenfunc)Span_length};

static PyTypeObject SpanType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "consentproxy.rewrite._skip.Span",
    .tp_doc = "A run of a page's bytes in the skip's output, not copied (a buffer).",
    .tp_basicsize = sizeof(Span),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Span_dealloc,
    .tp_as_buffer = &Span_as_buffer,
    .tp_as_sequence = &Span_as_sequence,
};

static PyObject *new_span(PyObject *page, Py_ssize_t start, Py_ssize_t len) {
    Span *span = PyObject_New(Span, &SpanType);
    if (span == NULL)
        return NULL;
    span->page = Py_NewRef(page);
    span->start = start;
    span->len = len;
    return (PyObject *)span;
}

/* What the skip is told of the neutraliser's memos: see Skipper_skip. */
typedef struct {
    PyObject *settled, *seen, *elements, *choice, *memo;
    Output *output; /* (NULL: no output list, no edits) */
    Hosts *hosts; /* (this skip's) */
    Key *plain;   /* (this skip's: markup's key for a plain name, set for each) */
    const char *endpoint; /* the endpoints' word (see inert_action), or NULL */
    Py_ssize_t endpoint_len;
} Memos;

/* Whether an outcome the neutraliser remembers (the new start tag or None, what it blocks,
 * the unknown hosts it names) leaves the element as it is with nothing to report: 1, 0, or
 * -1 when it is no such triple. */
static int stays(PyObject *known) {
    if (known == NULL || !PyTuple_Check(known) || PyTuple_GET_SIZE(known) != 3)
        return -1;
    PyObject *blocked = PyTuple_GET_ITEM(known, 1), *hosts = PyTuple_GET_ITEM(known, 2);
    if (!PyTuple_Check(blocked) || !PyTuple_Check(hosts))
        return -1;
    return PyTuple_GET_ITEM(known, 0) == Py_None && PyTuple_GET_SIZE(blocked) == 0
           && PyTuple_GET_SIZE(hosts) == 0;
}

/* Whether an outcome that does not stay (see stays) keeps the tag and blocks nothing: it only
 * adds unknown hosts to the page's report. */
static int reports_only(PyObject *known) {
    return PyTuple_GET_ITEM(known, 0) == Py_None
           && PyTuple_GET_SIZE(PyTuple_GET_ITEM(known, 1)) == 0;
}

/* Append b[done..p) to the output: 0, or -1 (an exception set, nothing changed). */
static int flush(Output *o, Py_ssize_t p) {
    if (p <= o->done)
        return 0;
    PyObject *piece = o->done == 0 && p == o->n && PyBytes_CheckExact(o->buf)
                          ? Py_NewRef(o->buf) /* (a run that is the whole buffer: no copy) */
                      : o->spans && p - o->done >= SPAN_BYTES
                          ? new_span(o->buf, o->done, p - o->done)
                          : PyBytes_FromStringAndSize((const char *)o->b + o->done, p - o->done);
    int failed = piece == NULL || PyList_Append(o->out, piece) < 0;
    Py_XDECREF(piece);
    if (!failed)
        o->done = p;
    return failed ? -1 : 0;
}

/* A remembered new tag with this response's mark in the slot the neutraliser left for it
 * (Neutraliser._stamp: the first slot, if any), new, or NULL (an exception set). */
static PyObject *stamp(Skipper *self, PyObject *tag, PyObject *mark) {
    const char *t = PyBytes_AS_STRING(tag), *m = PyBytes_AS_STRING(mark);
    Py_ssize_t len = PyBytes_GET_SIZE(tag), slot_len = self->mark_slot_len;
    const char *slot = slot_len ? memmem(t, (size_t)len, self->mark_slot, (size_t)slot_len) : NULL;
    if (slot == NULL)
        return Py_NewRef(tag);
    Py_ssize_t at = slot - t, mark_len = PyBytes_GET_SIZE(mark);
    PyObject *out = PyBytes_FromStringAndSize(NULL, len - slot_len + mark_len);
    if (out != NULL) {
        char *o = PyBytes_AS_STRING(out);
        memcpy(o, t, (size_t)at);
        memcpy(o + at, m, (size_t)mark_len);
        memcpy(o + at + mark_len, slot + slot_len, (size_t)(len - at - slot_len));
    }
    return out;
}

/* Apply the outcome known of the start tag b[p..end) (a triple, see stays): its new tag, if
 * any, stamped, goes to the output after the run up to p; what it blocks and the unknown hosts
 * it names go to the page's reports (as Neutraliser._report adds them). 0, or -1 when it
 * cannot (no output list, the opener's limit: see Output; an error, cleared, or kept in
 * output->error once the reports changed), and the skip must stop at p. */
static int add_edit(Skipper *self, Memos memos, Py_ssize_t p, Py_ssize_t end, PyObject *known) {
    Output *o = memos.output;
    if (o == NULL || o->cut || end > o->limit)
        return -1;
    PyObject *edited = PyTuple_GET_ITEM(known, 0), *blocked = PyTuple_GET_ITEM(known, 1),
             *hosts = PyTuple_GET_ITEM(known, 2);
    if (edited != Py_None) {
        if (!PyBytes_Check(edited))
            return -1;
        PyObject *tag = stamp(self, edited, o->mark);
        int failed = tag == NULL || flush(o, p) < 0 || PyList_Append(o->out, tag) < 0;
        Py_XDECREF(tag);
        if (failed) { /* (the output holds the run up to p at most: the skip stops there) */
            PyErr_Clear();
            return -1;
        }
        o->done = end;
    }
    Py_ssize_t count = PyList_GET_SIZE(o->blocked);
    if (PyTuple_GET_SIZE(blocked) && PyList_SetSlice(o->blocked, count, count, blocked) < 0) {
        o->error = 1;
        return -1;
    }
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(hosts); k++)
        if (PySet_Add(memos.seen, PyTuple_GET_ITEM(hosts, k)) < 0) {
            o->error = 1;
            return -1;
        }
    return 0;
}

/* The outcome the tag memo holds for the start tag b[p..end) on this consent choice (memo
 * keyed (choice, tag)), borrowed, or NULL. */
static PyObject *tag_outcome(const unsigned char *b, Py_ssize_t p, Py_ssize_t end,
                             Memos memos) {
    PyObject *tag = PyBytes_FromStringAndSize((const char *)b + p, end - p);
    PyObject *key = tag == NULL ? NULL : PyTuple_Pack(2, memos.choice, tag);
    Py_XDECREF(tag);
    PyObject *known = key == NULL ? NULL : PyDict_GetItemWithError(memos.memo, key);
    Py_XDECREF(key);
    if (known == NULL)
        PyErr_Clear();
    return known;
}

/* Whether the start tag b[p..end) is one the tag memo (if given) holds an outcome for, no
 * longer than the longest it holds (its edit, if any, applied: add_edit): 1 if the skip steps over
 * it, else 0. */
static int remembered_tag(Skipper *self, const unsigned char *b, Py_ssize_t p, Py_ssize_t end,
                          Memos memos) {
    if (memos.memo == NULL || end - p > self->tag_bytes)
        return 0;
    PyObject *known = tag_outcome(b, p, end, memos);
    int kept = stays(known);
    return kept == 1 || (kept == 0 && add_edit(self, memos, p, end, known) == 0);
}

/* Whether the start tag b[p..end) of a script with no URL attribute is that of a data block
 * the neutraliser keeps as it is on this consent choice (settled maps it to False): its
 * script data is no code. */
static int kept_data_block(const unsigned char *b, Py_ssize_t p, Py_ssize_t end, Key key) {
    return get_bytes(key.settled, (const char *)b + p, end - p) == Py_False;
}

/* The outcome the neutraliser remembers on this consent choice for the inline script or
 * <style> element b[p..close) (its start tag and text), borrowed, or NULL: memos.elements
 * maps such elements to {choice: outcome}. */
static PyObject *element_outcome(Skipper *self, const unsigned char *b, Py_ssize_t p,
                                 Py_ssize_t close, Memos memos) {
    if (memos.elements == NULL || close - p > self->element_bytes)
        return NULL;
    PyObject *choices = get_bytes(memos.elements, (const char *)b + p, close - p);
    PyObject *known = choices == NULL || !PyDict_Check(choices)
                          ? NULL
                          : PyDict_GetItemWithError(choices, memos.choice);
    if (known == NULL)
        PyErr_Clear();
    return known;
}

/* Script data's escape states (HTML 13.2.5.4 ff.): plain, escaped, double-escaped. */
enum { S_PLAIN, S_ESCAPED, S_DOUBLE };

/* Where "-->" is in b[q..end) (all of it), or -1. */
static Py_ssize_t dashes_at(const unsigned char *b, Py_ssize_t q, Py_ssize_t end) {
    for (q = find(b, q, end, '-'); q + 3 <= end; q = find(b, q + 1, end, '-'))
        if (b[q + 1] == '-' && b[q + 2] == '>')
            return q;
    return -1;
}

/* Script data in b[q..n) from the escape state *sub (S_*), its tokens followed as
 * scanner._script follows them ("<!--", "-->", "<script" or "</script" and a delimiter, a
 * "-->" looked for only up to the next '<'): the start of its end tag (*ended = 1) when it ends
 * before n, else the end of the last token; *sub the state there. */
static Py_ssize_t script_end(const unsigned char *b, Py_ssize_t q, Py_ssize_t n, long *sub,
                             int *ended) {
    Py_ssize_t last = q; /* the end of the last token */
    *ended = 0;
    while (q < n) {
        Py_ssize_t lt = find(b, q, n, '<'), dashes = dashes_at(b, q, lt);
        if (dashes >= 0) {
            *sub = S_PLAIN;
            q = last = dashes + 3;
            continue;
        }
        if (lt >= n)
            break;
        if (lt + 3 < n && b[lt + 1] == '!' && b[lt + 2] == '-' && b[lt + 3] == '-') {
            *sub = *sub == S_PLAIN ? S_ESCAPED : *sub;
            q = last = lt + 2; /* "<!-->" closes at once: let its "-->" be seen */
            continue;
        }
        Py_ssize_t w = lt + 1 + (lt + 1 < n && b[lt + 1] == '/');
        if (w + 6 < n && is_delim(b[w + 6]) && contains_ci(b, w, w + 6, "script", 6)) {
            if (w == lt + 1) /* <script */
                *sub = *sub == S_ESCAPED ? S_DOUBLE : *sub;
            else if (*sub == S_DOUBLE) /* </script */
                *sub = S_ESCAPED;
            else {
                *ended = 1;
                return lt;
            }
            q = last = w + 6;
            continue;
        }
        q = lt + 1; /* no token: the search goes on, the last token's end stays */
    }
    return last;
}

/* Whether "<!--" is in b[p..end): found from its '<', which script data has few of. */
static int holds_comment_open(const unsigned char *b, Py_ssize_t p, Py_ssize_t end) {
    for (p = find(b, p, end, '<'); p + 4 <= end; p = find(b, p + 1, end, '<'))
        if (memcmp(b + p, "<!--", 4) == 0)
            return 1;
    return 0;
}

/* text_end of an element with text: raw text, RCDATA, a script. */
static Py_ssize_t raw_text_end(Skipper *self, const unsigned char *b, Py_ssize_t end,
                               Py_ssize_t limit, Py_ssize_t i) {
    int script = i == self->script;
    Py_ssize_t close = end_tag(b, end, limit, self->interesting.name[i], self->interesting.len[i]);
    if (close < 0 || !script || !holds_comment_open(b, end, close))
        return close;
    long sub = S_PLAIN;
    int ended;
    close = script_end(b, end, limit, &sub, &ended);
    return ended ? close : -1;
}

/* Where the text after the start tag of the interesting name i (ending at end) ends, for the
 * skip to step over it: end when it has none, else the start of its end tag (looked for
 * before limit; for a script whose data holds "<!--", where its escape states end it); -1 when
 * that is not there. */
static inline Py_ssize_t text_end(Skipper *self, const unsigned char *b, Py_ssize_t end,
                                  Py_ssize_t limit, Py_ssize_t i) {
    return self->text[i] || i == self->script ? raw_text_end(self, b, end, limit, i) : end;
}

/* The start tag at p of the interesting name i (ending at name_end): the end of what the skip
 * may pass over (the tag, or for raw text and scripts up to their end tag), or -1 to stop at
 * p. */
static Py_ssize_t quiet_element(Skipper *self, const unsigned char *b, Py_ssize_t p,
                                Py_ssize_t name_end, Py_ssize_t n, Py_ssize_t i, int quiet_ok,
                                Key key, Memos memos) {
    int flags = 0;
    /* (KEYED alone: not a hosted name, such as <input formaction>, whose other URLs a <base>
     * elsewhere would send to another host) */
    if (!self->quiet[i] || !(quiet_ok & QUIET || (quiet_ok & KEYED && key.len && !self->hosted[i])))
        return -1;
    int hosted = key.urls != NULL;
    Py_ssize_t end = tag_end(b, name_end, n, &key, &flags);
    if (end < 0 || flags & (STYLE_MAY_LOAD | HAS_KEY | UNSETTLED)
            || (!key.len && !hosted && may_be_remote(b, p, end)))
        return -1;
    const char *name = self->interesting.name[i];
    Py_ssize_t len = self->interesting.len[i];
    /* a <script>: with a src (its own URL attribute: HAS_URL), or inline and worked out
     * before (element_outcome); its script data up to its end tag (text_end) */
    int script = i == self->script;
    if (script && !hosted)
        return -1;
    /* with no URL attribute: a data block kept as it is, or an inline script worked out,
     * looked for up to the longest element_outcome looks up */
    int inline_script = script && !(flags & HAS_URL) && !kept_data_block(b, p, end, key);
    if (inline_script && memos.elements == NULL)
        return -1;
    Py_ssize_t limit = inline_script && n - p > self->element_bytes + 9 ? p + self->element_bytes + 9 : n;
    Py_ssize_t close = text_end(self, b, end, limit, i);
    if (close < 0)
        return -1;
    /* a <style> whose CSS may load: only one let through before; an inline script let
     * through, or whose start tag alone changed (its edit applied: add_edit) */
    int loading_style = len == 5 && memcmp(name, "style", 5) == 0 && css_may_load(b, end, close);
    if (inline_script || loading_style) {
        PyObject *known = element_outcome(self, b, p, close, memos);
        int kept = stays(known);
        if (kept == 0 && loading_style && !reports_only(known))
            return -1; /* (its stylesheet changed with its tag) */
        if (kept < 0 || (kept == 0 && add_edit(self, memos, p, end, known) < 0))
            return -1;
    }
    return close; /* the end tag itself is stepped over next */
}

/* The start tag at p of the interesting name i, when the neutraliser remembers what it
 * becomes on this consent choice (memos.memo: its tag memo, keyed (choice, tag), each value
 * (the new tag or None, what it blocks, the unknown hosts it names)): that value is applied
 * (add_edit) unless the tag stays and reports nothing, and the skip goes on
 * past the tag (past a raw text's or a script's text too, as quiet_element does); -1 to stop
 * at p: not remembered, a script with no src (its text decides), or text not all in buf.
 * name_end: where its name ends. */
static Py_ssize_t remembered(Skipper *self, const unsigned char *b, Py_ssize_t p,
                             Py_ssize_t name_end, Py_ssize_t n, Py_ssize_t i, Memos memos) {
    int flags = 0, script = i == self->script;
    Pending pending = {0, 0, {NULL}};
    Key key = {"", 0, script ? &self->urls : NULL, script ? self->own_urls[i] : 0, NULL, NULL,
               &pending, 0, 0, NULL, NULL, 0, script ? self->url_firsts : STYLE_FIRSTS, 0};
    Py_ssize_t end = tag_end(b, name_end, n, &key, &flags);
    if (end < 0 || (script && !(flags & HAS_URL)))
        return -1;
    Py_ssize_t close = text_end(self, b, end, n, i); /* (an end tag is stepped over next) */
    return close >= 0 && remembered_tag(self, b, p, end, memos) ? close : -1;
}

/* One '<' at p: the end of the markup the skip may pass over, or -1 to stop at p. */
static Py_ssize_t markup(Skipper *self, const unsigned char *b, Py_ssize_t p, Py_ssize_t n,
                        int quiet_ok, Memos memos) {
    PyObject *settled = memos.settled, *seen = memos.seen;
    if (p + 1 >= n)
        return -1;
    unsigned char c = b[p + 1];
    if (is_alpha(c)) { /* a start tag */
        int flags = 0;
        Py_ssize_t name_end, i = name_index(b, p + 1, n, &self->interesting, &name_end);
        if (i >= 0 && (i == self->script || self->root[i]) && memos.output != NULL
                && memos.output->guarded)
            memos.output->cut = 1; /* (see Output) */
        if (i < 0) { /* (stopped at only for a style attribute: what memo says of it) */
            Py_ssize_t end = tag_end(b, name_end, n, &NO_KEY, &flags);
            if (!(flags & (quiet_ok ? STYLE_MAY_LOAD : HAS_STYLE)))
                return end;
            return end >= 0 && quiet_ok & QUIET && remembered_tag(self, b, p, end, memos) ? end
                                                                                      : -1;
        }
        if (self->plain >> i & 1 && quiet_ok & (QUIET | KEYED)) {
            /* (most of a page's interesting tags: a, td, tr...) with neither its key attribute
             * nor a style that may load, stepped over as quiet_element would; else read again
             * below, all of it (the key, read as nothing but HAS_KEY here, changes nothing) */
            Key *plain = memos.plain; /* (no pending: no URL is read) */
            plain->name = self->keys.name[i];
            plain->len = self->keys.len[i];
            plain->firsts = self->key_firsts[i][0];
            Py_ssize_t end = tag_end(b, name_end, n, plain, &flags);
            if (end >= 0 && !(flags & (HAS_KEY | STYLE_MAY_LOAD)))
                return end;
        }
        if (self->root[i] && quiet_ok & FOREIGN)
            return foreign_element(self, b, p, n, self->root[i]);
        Pending pending = {0, 0, {NULL}};
        Key key = {self->keys.name[i], self->keys.len[i], NULL, 0, NULL, NULL, &pending, 0,
                   self->key_urls[i], NULL, memos.endpoint, memos.endpoint_len,
                   self->key_firsts[i][0], 0};
        /* a background or ping key holds URLs: with no <base> elsewhere, they may name
         * settled hosts as a hosted tag's URLs do (else the tag stops at its key) */
        int key_urls = key.key_urls == KEY_URL || key.key_urls == KEY_URL_LIST;
        if (key_urls && !(quiet_ok & QUIET && settled != NULL))
            key.key_urls = 0;
        if ((key_urls && key.key_urls) || (self->hosted[i] && settled != NULL)) {
            key.settled = settled;
            key.seen = seen;
            key.hosts = memos.hosts;
        }
        if (self->hosted[i] && settled != NULL) {
            key.urls = &self->urls;
            key.own_urls = self->own_urls[i];
            key.data_urls = self->data_urls[i];
            key.firsts = self->key_firsts[i][1];
        }
        Py_ssize_t end = quiet_element(self, b, p, name_end, n, i, quiet_ok, key, memos);
        for (int k = 0; k < pending.count; k++) { /* the tag is stepped over: reported */
            if (end >= 0 && PySet_Add(seen, pending.host[k]) < 0) {
                if (memos.output != NULL) /* (an edit of this tag may be out: an error) */
                    memos.output->error = 1;
                else
                    PyErr_Clear();
                end = -1; /* (the neutraliser reports it) */
            }
            Py_DECREF(pending.host[k]);
        }
        if (end < 0 && memos.memo != NULL && self->remembered[i] && quiet_ok & QUIET)
            end = remembered(self, b, p, name_end, n, i, memos);
        return end;
    }
    if (c == '/') { /* an end tag: all but </body>; or a bogus one */
        if (p + 2 < n && is_alpha(b[p + 2])) {
            int ignored = 0; /* an end tag's attributes do nothing */
#ifdef __SSE2__
            if (p + 16 <= n) { /* a '>' before any quote ends it: most end tags are short */
                if (end_tag_body(b, p))
                    return -1;
                __m128i v = _mm_loadu_si128((const __m128i *)(b + p));
                unsigned gt = (unsigned)_mm_movemask_epi8(eq(v, '>'));
                unsigned quotes = (unsigned)_mm_movemask_epi8(_mm_or_si128(eq(v, '"'), eq(v, '\'')));
                if (gt && !(quotes & ((gt & -gt) - 1)))
                    return p + __builtin_ctz(gt) + 1;
                return tag_rest(b, p + 3, n, &NO_KEY, &ignored);
            }
#endif
            if (body_end(b, p + 2, n))
                return -1;
            return tag_rest(b, p + 3, n, &NO_KEY, &ignored);
        }
        const unsigned char *gt = memchr(b + p + 2, '>', (size_t)(n - p - 2));
        return gt == NULL ? -1 : gt - b + 1;
    }
    if (c == '!' || c == '?') {
        int dashes = p + 3 < n && b[p + 2] == '-' && b[p + 3] == '-';
        if (c == '!' && dashes) /* a comment, incl. <!--> and <!---> */
            return comment(b, p, n);
        if (dashes)
            return -1;
        const unsigned char *gt = memchr(b + p + 2, '>', (size_t)(n - p - 2));
        return gt == NULL ? -1 : gt - b + 1;
    }
    return p + 1; /* a lone '<' is text */
}

/* skip(buf, pos, quiet_ok[, settled, seen[, elements, choice[, memo, out, mark, blocked,
 * limit[, spans[, endpoint]]]]]): memo (or None) the neutraliser's tag memo, to be read only
 * while no <base> points elsewhere; out a list the run stepped over goes to, in pieces, the
 * remembered tags in it (see remembered) as the neutraliser makes them for this response: mark
 * its mark attribute, blocked its blocked list (seen its unknown hosts); limit: the opener's
 * next needle, or len(buf) (see Output); spans: runs of SPAN_BYTES or more of a bytes buf go to
 * out as Spans, not copies (for an out that is only joined), endpoint given or not; endpoint:
 * the endpoints' word (see inert_action). Without out, the skip stops at each remembered tag
 * that changes or reports something. */
static PyObject *Skipper_skip(Skipper *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer view;
    Hosts hosts;
    memset(hosts.len, 0, sizeof hosts.len);
    Key plain = NO_KEY;
    if (nargs != 3 && nargs != 5 && nargs != 7 && nargs != 12 && nargs != 13 && nargs != 14) {
        PyErr_SetString(PyExc_TypeError,
                        "skip(buf, pos, quiet_ok[, settled, seen[, elements, choice[, memo, "
                        "out, mark, blocked, limit[, spans[, endpoint]]]]])");
        return NULL;
    }
    Output output = {0};
    Memos memos = {nargs >= 5 ? args[3] : NULL, nargs >= 5 ? args[4] : NULL,
                   nargs >= 7 ? args[5] : NULL, nargs >= 7 ? args[6] : NULL,
                   nargs >= 12 && args[7] != Py_None ? args[7] : NULL,
                   nargs >= 12 ? &output : NULL, &hosts, &plain, NULL, 0};
    if (nargs == 14) {
        if (!PyBytes_Check(args[13])) {
            PyErr_SetString(PyExc_TypeError, "endpoint must be bytes");
            return NULL;
        }
        memos.endpoint = PyBytes_AS_STRING(args[13]);
        memos.endpoint_len = PyBytes_GET_SIZE(args[13]);
    }
    if (nargs >= 12) {
        output.buf = args[0];
        output.out = args[8];
        output.mark = args[9];
        output.blocked = args[10];
        output.limit = PyLong_AsSsize_t(args[11]);
        if (output.limit == -1 && PyErr_Occurred())
            return NULL;
        int spans = nargs >= 13 ? PyObject_IsTrue(args[12]) : 0;
        if (spans < 0)
            return NULL;
        /* (a Span reads the page later: only bytes are sure to stay as they are) */
        output.spans = spans && PyBytes_CheckExact(args[0]);
    }
    if ((memos.settled != NULL && !(PyDict_Check(memos.settled) && PyAnySet_Check(memos.seen)))
            || (memos.elements != NULL && !PyDict_Check(memos.elements))
            || (memos.memo != NULL && !PyDict_Check(memos.memo))
            || (nargs >= 12
                && !(PyList_Check(output.out) && PyBytes_Check(output.mark)
                     && PyList_Check(output.blocked)))) {
        PyErr_SetString(PyExc_TypeError, "settled, elements and memo must be dicts, seen a "
                                         "set, out and blocked lists, mark bytes");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    int quiet_ok = PyLong_AsLong(args[2]);
    if ((pos == -1 || quiet_ok == -1) && PyErr_Occurred())
        return NULL;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *b = view.buf;
    Py_ssize_t n = view.len;
    if (pos < 0)
        pos = 0;
    output.b = b;
    output.n = n;
    output.done = pos;
    output.guarded = output.limit < n;
    while (pos < n) {
        if (b[pos] != '<') {
            pos = find(b, pos, n, '<');
            continue;
        }
#ifdef __SSE2__
        /* an end tag ("</a>", "</li>": nearly half a page's tags), read here as markup reads
         * it (but for </body> and a quote before its '>': markup), the next '<' too when it
         * is in the same 16 bytes */
        if (pos + 16 <= n && b[pos + 1] == '/' && is_alpha(b[pos + 2])) {
            if (end_tag_body(b, pos))
                break;
            __m128i v = _mm_loadu_si128((const __m128i *)(b + pos));
            unsigned gt = (unsigned)_mm_movemask_epi8(eq(v, '>'));
            unsigned quotes = (unsigned)_mm_movemask_epi8(_mm_or_si128(eq(v, '"'), eq(v, '\'')));
            if (gt && !(quotes & ((gt & -gt) - 1))) {
                Py_ssize_t end = pos + __builtin_ctz(gt) + 1;
                if (end < n && b[end] != '<') { /* text, up to the next '<' */
                    unsigned lts = (unsigned)_mm_movemask_epi8(eq(v, '<')) >> (end - pos);
                    end = lts ? end + __builtin_ctz(lts) : find(b, end, n, '<');
                }
                pos = end;
                continue;
            }
        }
#endif
        Py_ssize_t end = markup(self, b, pos, n, quiet_ok, memos);
        if (end < 0)
            break;
        pos = end;
    }
    if (pos > n)
        pos = n;
    int failed = output.error || (memos.output != NULL && flush(&output, pos) < 0);
    PyBuffer_Release(&view);
    return failed ? NULL : PyLong_FromSsize_t(pos);
}

/* How often a byte occurs in HTML, roughly (0: rarely): find_ci's anchors are a needle's
 * rarest bytes. Letters and digits by this list, '-' and space as common as 'e'. */
static int frequency(unsigned char c) {
    static const char order[] = "qjzxkvwyfbgp_mhducl0123456789trsnoia-e ";
    const char *at = memchr(order, lower(c), sizeof order - 1);
    return at == NULL ? 0 : (int)(at - order) + 1;
}

/* The next occurrence of c, in either ASCII case, in b[p..end), or -1. */
static Py_ssize_t next_ci(const unsigned char *b, Py_ssize_t p, Py_ssize_t end,
                          unsigned char c) {
    if (p >= end)
        return -1;
    const unsigned char *lo = memchr(b + p, lower(c), (size_t)(end - p));
    unsigned char up = is_alpha(c) ? (c & ~0x20) : c;
    const unsigned char *hi =
        up == lower(c) ? NULL : memchr(b + p, up, (size_t)((lo ? lo - b : end) - p));
    const unsigned char *at = hi != NULL ? hi : lo;
    return at == NULL ? -1 : at - b;
}

/* Whether the needle w (len bytes, lowercase) is at b[start..], compared in ASCII lowercase. */
static inline int needle_at(const unsigned char *b, Py_ssize_t start, const unsigned char *w,
                            Py_ssize_t len) {
    Py_ssize_t i = 0;
    while (i < len && lower(b[start + i]) == w[i])
        i++;
    return i == len;
}

#ifdef __SSE2__
/* Which of 16 bytes may be the needle's byte c in either ASCII case (0xff each): a letter's
 * bytes with the case bit set (fold 0x20: only c and its capital give c), others as they are. */
static inline __m128i may_be(__m128i v, __m128i fold, __m128i c) {
    return _mm_cmpeq_epi8(_mm_or_si128(v, fold), c);
}
#endif

/* Where the needle w (len >= 1 bytes, lowercase) first starts in b[p..stop) (all of it in
 * there), compared in ASCII lowercase, or -1. Its two rarest bytes (at k and j, apart when
 * they can be) are compared for 16 starts at once and the few starts where both are there
 * read whole; with fewer than 16 starts left (or no SSE2), the rarest byte is looked for
 * with memchr and each occurrence compared around it. */
static Py_ssize_t find_needle(const unsigned char *b, Py_ssize_t p, Py_ssize_t stop,
                              const unsigned char *w, Py_ssize_t len) {
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 1; i < len; i++)
        if (frequency(w[i]) < frequency(w[k]))
            k = i;
#ifdef __SSE2__
    Py_ssize_t j = k; /* (the second anchor: the rarest of the others, the farther on a tie) */
    for (Py_ssize_t i = 0; i < len; i++) {
        int f = frequency(w[i]), g = frequency(w[j]);
        Py_ssize_t far = i > k ? i - k : k - i, was = j > k ? j - k : k - j;
        if (i != k && (j == k || f < g || (f == g && far > was)))
            j = i;
    }
    __m128i fk = _mm_set1_epi8(w[k] >= 'a' && w[k] <= 'z' ? 0x20 : 0), ck = _mm_set1_epi8(w[k]);
    __m128i fj = _mm_set1_epi8(w[j] >= 'a' && w[j] <= 'z' ? 0x20 : 0), cj = _mm_set1_epi8(w[j]);
#define CANDIDATES(s) /* the starts s..s+15 where both anchors may be, 0xff each */          \
    _mm_and_si128(may_be(_mm_loadu_si128((const __m128i *)(b + (s) + k)), fk, ck),            \
                  may_be(_mm_loadu_si128((const __m128i *)(b + (s) + j)), fj, cj))
    /* (a load at s + k reads b[s + k..s + k + 16): within b[..stop) while start s + 15 is) */
    for (; p + 63 + len <= stop; p += 64) { /* 64 starts, one branch when none is a candidate */
        __m128i m0 = CANDIDATES(p), m1 = CANDIDATES(p + 16), m2 = CANDIDATES(p + 32),
                m3 = CANDIDATES(p + 48);
        if (!_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(m0, m1), _mm_or_si128(m2, m3))))
            continue;
        uint64_t bits = (uint64_t)(unsigned)_mm_movemask_epi8(m0)
                        | (uint64_t)(unsigned)_mm_movemask_epi8(m1) << 16
                        | (uint64_t)(unsigned)_mm_movemask_epi8(m2) << 32
                        | (uint64_t)(unsigned)_mm_movemask_epi8(m3) << 48;
        for (; bits; bits &= bits - 1)
            if (needle_at(b, p + __builtin_ctzll(bits), w, len))
                return p + __builtin_ctzll(bits);
    }
    for (; p + 15 + len <= stop; p += 16)
        for (unsigned bits = (unsigned)_mm_movemask_epi8(CANDIDATES(p)); bits; bits &= bits - 1)
            if (needle_at(b, p + __builtin_ctz(bits), w, len))
                return p + __builtin_ctz(bits);
#undef CANDIDATES
#endif
    for (Py_ssize_t at = next_ci(b, p + k, stop, w[k]); at >= 0 && at - k + len <= stop;
         at = next_ci(b, at + 1, stop, w[k]))
        if (needle_at(b, at - k, w, len))
            return at - k;
    return -1;
}

/* The arguments (buf, x, pos, end) of find_ci and end_tag, x checked by the caller (ok): the
 * buffer (released by the caller) and pos, end clamped to it; -1 (an exception set) if bad. */
static int buf_range(PyObject *const *args, Py_ssize_t nargs, int ok, const char *usage,
                     Py_buffer *view, Py_ssize_t *pos, Py_ssize_t *end) {
    if (nargs != 4 || !ok) {
        PyErr_SetString(PyExc_TypeError, usage);
        return -1;
    }
    *pos = PyLong_AsSsize_t(args[2]);
    *end = PyLong_AsSsize_t(args[3]);
    if ((*pos == -1 || *end == -1) && PyErr_Occurred())
        return -1;
    if (PyObject_GetBuffer(args[0], view, PyBUF_SIMPLE) < 0)
        return -1;
    *pos = *pos < 0 ? 0 : *pos;
    *end = *end > view->len ? view->len : *end;
    return 0;
}

/* find_ci(buf, needles, pos, end): where the first of the needles (lowercase ASCII bytes)
 * starts in buf[pos:end], compared in ASCII lowercase; -1 if none is there. What
 * buf.lower().find gives, without the lower-cased copy (find_needle). */
static PyObject *find_ci(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer view;
    Py_ssize_t pos, end;
    if (buf_range(args, nargs, nargs == 4 && PyTuple_Check(args[1]),
                  "find_ci(buf, needles: tuple, pos, end)", &view, &pos, &end) < 0)
        return NULL;
    const unsigned char *b = view.buf;
    Py_ssize_t best = -1;
    for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(args[1]); j++) {
        PyObject *needle = PyTuple_GET_ITEM(args[1], j);
        if (!PyBytes_Check(needle)) {
            PyBuffer_Release(&view);
            PyErr_SetString(PyExc_TypeError, "needles must be bytes");
            return NULL;
        }
        const unsigned char *w = (const unsigned char *)PyBytes_AS_STRING(needle);
        Py_ssize_t len = PyBytes_GET_SIZE(needle);
        /* a match starts in [pos, stop - len]: only one before the best so far counts */
        Py_ssize_t stop = best >= 0 && best + len - 1 < end ? best + len - 1 : end;
        Py_ssize_t at = len == 0 ? (pos <= stop ? pos : -1) : find_needle(b, pos, stop, w, len);
        if (at >= 0 && (best < 0 || at < best))
            best = at;
    }
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(best);
}

/* Skipper.script_data(buf, pos, sub): script_end from pos in the escape state sub (S_*): (the
 * start of its end tag, the state, True) when it ends in buf, else (the end of the last token,
 * the state, False). */
static PyObject *Skipper_script_data(Skipper *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer view;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "script_data(buf, pos, sub)");
        return NULL;
    }
    Py_ssize_t q = PyLong_AsSsize_t(args[1]);
    long sub = PyLong_AsLong(args[2]);
    if ((q == -1 || sub == -1) && PyErr_Occurred())
        return NULL;
    if (sub < S_PLAIN || sub > S_DOUBLE) {
        PyErr_SetString(PyExc_ValueError, "sub must be 0, 1 or 2");
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_ssize_t n = view.len;
    int ended;
    Py_ssize_t last = script_end(view.buf, q < 0 ? 0 : q > n ? n : q, n, &sub, &ended);
    PyBuffer_Release(&view);
    return Py_BuildValue("(nlO)", last, sub, ended ? Py_True : Py_False);
}

/* Copy a tuple of lowercase bytes names into a Names table. */
static int set_names(Names *names, PyObject *tuple) {
    if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) > MAX_NAMES) {
        PyErr_SetString(PyExc_TypeError, "names must be a tuple of at most 64 bytes");
        return -1;
    }
    memset(names, 0, sizeof(Names));
    names->count = PyTuple_GET_SIZE(tuple);
    for (Py_ssize_t i = 0; i < names->count; i++) {
        PyObject *name = PyTuple_GET_ITEM(tuple, i);
        if (!PyBytes_Check(name) || PyBytes_GET_SIZE(name) >= MAX_NAME) {
            PyErr_SetString(PyExc_ValueError, "each name must be bytes shorter than 16");
            return -1;
        }
        names->len[i] = (unsigned char)PyBytes_GET_SIZE(name);
        memcpy(names->name[i], PyBytes_AS_STRING(name), names->len[i]);
        names->by_len[names->len[i]] |= (uint64_t)1 << i;
        unsigned char first = (unsigned char)names->name[i][0];
        if (!(first >= 'A' && first <= 'Z')) /* (a capital is no lowercase name's) */
            names->by_first[first] |= (uint64_t)1 << i;
        if (first >= 'a' && first <= 'z')
            names->by_first[first & ~0x20] |= (uint64_t)1 << i;
        for (int k = 0; k < names->len[i]; k++) /* (a capital in a name matches nothing) */
            names->fold[i][k] = is_alpha((unsigned char)names->name[i][k]) ? 0x20 : 0;
    }
    return 0;
}

/* The index of name (len bytes) in names, or names->count. */
static Py_ssize_t index_of(const Names *names, const char *name, Py_ssize_t len) {
    Py_ssize_t i = 0;
    while (i < names->count
           && !(names->len[i] == len && memcmp(names->name[i], name, (size_t)len) == 0))
        i++;
    return i;
}

/* Which of the names in `among` are in `subset`: flags[i] = 1 (and, with keys, the key
 * of each goes to self->keys.name[i]). */
static int flag_names(Skipper *self, const Names *among, PyObject *subset, char *flags,
                      PyObject *keys) {
    Names names, given;
    if (set_names(&names, subset) < 0 || (keys != NULL && set_names(&given, keys) < 0))
        return -1;
    if (keys != NULL && given.count != names.count) {
        PyErr_SetString(PyExc_ValueError, "one key (or b\"\") per quiet name");
        return -1;
    }
    for (Py_ssize_t j = 0; j < names.count; j++) {
        Py_ssize_t i = index_of(among, names.name[j], names.len[j]);
        if (i == among->count) {
            PyErr_SetString(PyExc_ValueError, "a name flagged is not among the names");
            return -1;
        }
        flags[i] = 1;
        if (keys != NULL) {
            self->keys.len[i] = given.len[j];
            memcpy(self->keys.name[i], given.name[j], given.len[j]);
        }
    }
    return 0;
}

/* The mask (by index in urls) of the URL attributes named in the tuple given (NULL: none). */
static int url_mask(Skipper *self, PyObject *given, uint64_t *mask) {
    Names own = {0};
    if (given != NULL && set_names(&own, given) < 0)
        return -1;
    *mask = 0;
    for (Py_ssize_t j = 0; j < own.count; j++) {
        Py_ssize_t url = index_of(&self->urls, own.name[j], own.len[j]);
        if (url == self->urls.count) {
            PyErr_SetString(PyExc_ValueError, "a hosted tag's URL attribute is not in urls");
            return -1;
        }
        *mask |= (uint64_t)1 << url;
    }
    return 0;
}

/* Each hosted tag's own URL attributes: hosted_urls holds a tuple of them per name in hosted
 * (the neutraliser reads these only). */
static int own_urls(Skipper *self, PyObject *hosted, PyObject *hosted_urls) {
    if (!PyTuple_Check(hosted) || !PyTuple_Check(hosted_urls)
            || PyTuple_GET_SIZE(hosted) != PyTuple_GET_SIZE(hosted_urls)) {
        PyErr_SetString(PyExc_ValueError, "hosted_urls must be a tuple per name in hosted");
        return -1;
    }
    for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(hosted); j++) {
        PyObject *name = PyTuple_GET_ITEM(hosted, j);
        if (!PyBytes_Check(name)) {
            PyErr_SetString(PyExc_TypeError, "hosted must hold bytes");
            return -1;
        }
        Py_ssize_t i = index_of(&self->interesting, PyBytes_AS_STRING(name),
                                PyBytes_GET_SIZE(name));
        if (i == self->interesting.count) {
            PyErr_SetString(PyExc_ValueError, "a hosted name is not among the interesting");
            return -1;
        }
        if (url_mask(self, PyTuple_GET_ITEM(hosted_urls, j), &self->own_urls[i]) < 0)
            return -1;
    }
    return 0;
}

static int Skipper_init(Skipper *self, PyObject *args, PyObject *kwds) {
    PyObject *interesting, *quiet, *keys, *text, *foreign, *svg_points, *math_points, *hosted,
        *urls, *script_urls = NULL, *remembered = NULL, *hosted_urls = NULL;
    static char *kwlist[] = {"interesting", "quiet", "keys", "text", "foreign", "svg_points",
                             "math_points", "hosted", "urls", "element_bytes", "script_urls",
                             "remembered", "tag_bytes", "mark_slot", "hosted_urls", NULL};
    const char *mark_slot = "";
    self->element_bytes = self->tag_bytes = self->mark_slot_len = 0;
    /* (no script_urls: every <script> is inline code to the loop; no remembered: the memo
     * is never read; no hosted_urls, or None: every URL attribute is every hosted tag's own) */
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOOOOOOO|nOOny#O", kwlist, &interesting,
                                     &quiet, &keys, &text, &foreign, &svg_points, &math_points,
                                     &hosted, &urls, &self->element_bytes, &script_urls,
                                     &remembered, &self->tag_bytes, &mark_slot,
                                     &self->mark_slot_len, &hosted_urls))
        return -1;
    if (self->mark_slot_len > MAX_SLOT) {
        PyErr_SetString(PyExc_ValueError, "the mark slot is too long");
        return -1;
    }
    memcpy(self->mark_slot, mark_slot, (size_t)self->mark_slot_len);
    memset(self->hosted, 0, sizeof self->hosted);
    memset(self->key_urls, 0, sizeof self->key_urls);
    memset(self->data_urls, 0, sizeof self->data_urls);
    memset(self->quiet, 0, sizeof self->quiet);
    memset(self->remembered, 0, sizeof self->remembered);
    memset(self->text, 0, sizeof self->text);
    memset(self->root, 0, sizeof self->root);
    memset(self->svg_point, 0, sizeof self->svg_point);
    memset(self->math_point, 0, sizeof self->math_point);
    memset(&self->keys, 0, sizeof self->keys);
    if (set_names(&self->interesting, interesting) < 0
            || flag_names(self, &self->interesting, quiet, self->quiet, keys) < 0
            || flag_names(self, &self->interesting, text, self->text, NULL) < 0
            || set_names(&self->foreign, foreign) < 0
            || flag_names(self, &self->foreign, svg_points, self->svg_point, NULL) < 0
            || flag_names(self, &self->foreign, math_points, self->math_point, NULL) < 0
            || flag_names(self, &self->interesting, hosted, self->hosted, NULL) < 0
            || set_names(&self->urls, urls) < 0
            || (remembered != NULL
                && flag_names(self, &self->interesting, remembered, self->remembered, NULL) < 0))
        return -1;
    uint64_t script_own;
    if (url_mask(self, script_urls, &script_own) < 0)
        return -1;
    self->script = index_of(&self->interesting, "script", 6); /* (count: none) */
    for (Py_ssize_t i = 0; i < MAX_NAMES; i++)
        self->own_urls[i] = i == self->script ? script_own : ~(uint64_t)0;
    if (hosted_urls != NULL && hosted_urls != Py_None && own_urls(self, hosted, hosted_urls) < 0)
        return -1;
    Py_ssize_t svg = index_of(&self->interesting, "svg", 3);
    Py_ssize_t math = index_of(&self->interesting, "math", 4);
    if (self->foreign.count) { /* (the roots start a foreign element: they are among it) */
        if (svg == self->interesting.count || math == self->interesting.count
                || index_of(&self->foreign, "svg", 3) == self->foreign.count
                || index_of(&self->foreign, "math", 4) == self->foreign.count) {
            PyErr_SetString(PyExc_ValueError, "svg and math must be interesting and foreign");
            return -1;
        }
        self->root[svg] = NS_SVG;
        self->root[math] = NS_MATH;
    }
    self->plain = 0;
    for (Py_ssize_t i = 0; i < self->interesting.count; i++)
        if (self->quiet[i] && self->keys.len[i] && !self->text[i] && !self->hosted[i]
                && i != self->script && !self->root[i])
            self->plain |= (uint64_t)1 << i;
    for (Py_ssize_t i = 0; i < self->interesting.count; i++) {
        const char *key = self->keys.name[i], *name = self->interesting.name[i];
        Py_ssize_t len = self->keys.len[i];
        /* background (body, table, td, th) and ping (a, area) hold URLs; <meta>'s
         * http-equiv matters only as refresh or set-cookie */
        self->key_urls[i] = len == 10 && memcmp(key, "background", 10) == 0 ? KEY_URL
                            : len == 4 && memcmp(key, "ping", 4) == 0       ? KEY_URL_LIST
                            : len == 10 && memcmp(key, "http-equiv", 10) == 0 ? KEY_EQUIV
                            : (len == 6 && memcmp(key, "action", 6) == 0)
                                    || (len == 10 && memcmp(key, "formaction", 10) == 0)
                                ? KEY_ACTION
                                : 0;
        self->data_urls[i] = (self->interesting.len[i] == 3 && memcmp(name, "img", 3) == 0)
                             || (self->interesting.len[i] == 6 && memcmp(name, "source", 6) == 0);
    }
    memcpy(self->url_firsts, STYLE_FIRSTS, sizeof self->url_firsts);
    for (Py_ssize_t j = 0; j < self->urls.count; j++)
        self->url_firsts[self->urls.len[j]] |= first_bit((unsigned char)self->urls.name[j][0]);
    for (Py_ssize_t i = 0; i < self->interesting.count; i++) {
        Py_ssize_t len = self->keys.len[i];
        memcpy(self->key_firsts[i][0], STYLE_FIRSTS, sizeof STYLE_FIRSTS);
        memcpy(self->key_firsts[i][1], self->url_firsts, sizeof self->url_firsts);
        if (len) {
            self->key_firsts[i][0][len] |= first_bit((unsigned char)self->keys.name[i][0]);
            self->key_firsts[i][1][len] |= first_bit((unsigned char)self->keys.name[i][0]);
        }
    }
    return 0;
}

static PyMethodDef Skipper_methods[] = {
    {"script_data", (PyCFunction)(void (*)(void))Skipper_script_data, METH_FASTCALL,
     "script_data(buf, pos, sub) -> (where script data ends or its last token does, its "
     "escape state, whether it ended)"},
    {"skip", (PyCFunction)(void (*)(void))Skipper_skip, METH_FASTCALL,
     "skip(buf, pos, quiet_ok[, settled, seen[, elements, choice[, memo, out, mark, blocked, "
     "limit]]]) -> the end of what passes through untouched but for the remembered tags, "
     "written to out with them (quiet_ok: 1 every quiet tag, 2 those "
     "with a key, 4 foreign elements)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject SkipperType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "consentproxy.rewrite._skip.Skipper",
    .tp_basicsize = sizeof(Skipper),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Skipper(interesting, quiet, keys, text, foreign, svg_points, math_points, "
              "hosted, urls, element_bytes=0, script_urls=(), remembered=(), tag_bytes=0, mark_slot=b'', hosted_urls=None): the rewriter's skip loop, in C.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Skipper_init,
    .tp_methods = Skipper_methods,
};

/* end_tag(buf, name, pos, end): where "</" + name (lowercase, in any case) + a delimiter
 * starts in buf[pos:end], or -1 (scanner.END_TAG_RE's search). */
static PyObject *end_tag_py(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer view;
    Py_ssize_t pos, end;
    if (buf_range(args, nargs, nargs == 4 && PyBytes_Check(args[1]),
                  "end_tag(buf, name: bytes, pos, end)", &view, &pos, &end) < 0)
        return NULL;
    Py_ssize_t at = pos > end ? -1
                    : end_tag(view.buf, pos, end, PyBytes_AS_STRING(args[1]),
                              PyBytes_GET_SIZE(args[1]));
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(at);
}

/* tag_span(buf, pos): scanner.TAG_RE.match(buf, pos) as (the start of the name, its end, the
 * end of the tag), or None: the regex takes ~1.5 µs for a tag of 50 bytes. */
static PyObject *tag_span(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer view;
    Py_ssize_t pos = nargs == 2 ? PyLong_AsSsize_t(args[1]) : -1;
    if (pos < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "tag_span(buf, pos >= 0)");
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *b = view.buf;
    Py_ssize_t n = view.len, name = pos + 1 + (pos + 1 < n && b[pos + 1] == '/'), end = -1;
    int ignored = 0;
    Py_ssize_t name_end = 0;
    if (pos < n && b[pos] == '<' && name < n && is_alpha(b[name])) {
        name_end = span(b, name + 1, n, DELIM);
        end = tag_end(b, name_end, n, &NO_KEY, &ignored);
    }
    PyBuffer_Release(&view);
    if (end < 0)
        Py_RETURN_NONE;
    PyObject *out = PyTuple_New(3);
    Py_ssize_t at[3] = {name, name_end, end};
    for (int i = 0; out != NULL && i < 3; i++) {
        PyObject *number = PyLong_FromSsize_t(at[i]);
        if (number == NULL)
            Py_CLEAR(out);
        else
            PyTuple_SET_ITEM(out, i, number);
    }
    return out;
}

/* css_may_load(css): css.STYLE_MAY_LOAD_RE.search(css), in one pass. */
static PyObject *css_may_load_py(PyObject *module, PyObject *css) {
    Py_buffer view;
    if (PyObject_GetBuffer(css, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    int may = css_may_load(view.buf, 0, view.len);
    PyBuffer_Release(&view);
    return PyBool_FromLong(may);
}

static PyMethodDef module_methods[] = {
    {"end_tag", (PyCFunction)(void (*)(void))end_tag_py, METH_FASTCALL,
     "end_tag(buf, name, pos, end) -> where </name + a delimiter starts, in any case, or -1"},
    {"css_may_load", (PyCFunction)css_may_load_py, METH_O,
     "css_may_load(css) -> whether the CSS can name a URL at all (css.STYLE_MAY_LOAD_RE)"},
    {"tag_span", (PyCFunction)(void (*)(void))tag_span, METH_FASTCALL,
     "tag_span(buf, pos) -> (name start, name end, tag end) of the tag at pos, or None"},
    {"find_ci", (PyCFunction)(void (*)(void))find_ci, METH_FASTCALL,
     "find_ci(buf, needles, pos, end) -> where the first needle starts, in any ASCII case"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_skip", "The HTML rewriter's skip loop in C.", -1, module_methods,
};

PyMODINIT_FUNC PyInit__skip(void) {
    cls['\t'] = cls['\n'] = cls['\f'] = cls['\r'] = cls[' '] = WS;
    cls['/'] = SLASH;
    cls['>'] = GT;
    cls['='] = EQ;
    if (PyType_Ready(&SkipperType) < 0 || PyType_Ready(&SpanType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Skipper", (PyObject *)&SkipperType) < 0
        || PyModule_AddObjectRef(m, "Span", (PyObject *)&SpanType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
