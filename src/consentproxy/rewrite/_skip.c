/* The rewriter's hot loop in C: how far a run of HTML passes through untouched.
 *
 * Skipper(interesting, quiet).skip(buf, pos, quiet_ok) returns the end of the longest
 * run of buf from pos that scanner.SKIP_RE matches (text, comments, doctypes and the
 * start/end tags that cannot matter), written out as the state machine the regex
 * describes. With quiet_ok it also steps over start tags named in `quiet` that cannot
 * point to another host (no "//" and no '&' or ':'), which the Python neutraliser
 * would return unchanged. Everything skipped is emitted as is, so the output is the
 * pure-Python rewriter's byte for byte (tests/rewrite run both).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define MAX_NAME 16
#define MAX_NAMES 64

/* Tag names, lowercase, with a bit per length present to reject most names at once. */
typedef struct {
    Py_ssize_t count;
    unsigned int lengths;
    unsigned char len[MAX_NAMES];
    char name[MAX_NAMES][MAX_NAME];
} Names;

typedef struct {
    PyObject_HEAD
    Names interesting; /* tag names that stop the skip */
    Names quiet;       /* the subset that may be stepped over when quiet_ok */
} Skipper;

/* Byte classes, as the tokenizer sees them. */
enum { WS = 1, SLASH = 2, GT = 4, EQ = 8 };
#define DELIM (WS | SLASH | GT)
static unsigned char cls[256];

static int is_ws(unsigned char c) { return cls[c] & WS; }

static int is_delim(unsigned char c) { return cls[c] & DELIM; }

static int is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }

/* _TAG_REST after the first letter of the name: the end of the tag ('>' + 1), or -1
 * if buf ends first. Quoted values may hold '>'; one with no closing quote in buf is
 * an unquoted value, as in the regex's alternation. */
static Py_ssize_t tag_rest(const unsigned char *b, Py_ssize_t q, Py_ssize_t n) {
    while (q < n && !is_delim(b[q]))
        q++;
    while (q < n) {
        unsigned char c = b[q];
        if (c == '>')
            return q + 1;
        if (is_ws(c) || c == '/') {
            q++;
            continue;
        }
        q++; /* an attribute name: its first byte may be anything else, even '=' */
        while (q < n && !(cls[b[q]] & (DELIM | EQ)))
            q++;
        Py_ssize_t r = q;
        while (r < n && is_ws(b[r]))
            r++;
        if (r >= n || b[r] != '=')
            continue; /* no value: the spaces are taken by the loop */
        r++;
        while (r < n && is_ws(b[r]))
            r++;
        if (r < n && (b[r] == '"' || b[r] == '\'')) {
            const unsigned char *close = memchr(b + r + 1, b[r], (size_t)(n - r - 1));
            if (close != NULL) {
                q = close - b + 1;
                continue;
            }
        }
        while (r < n && !(cls[b[r]] & (WS | GT)))
            r++;
        q = r;
    }
    return -1;
}

/* Whether the tag name at b[p..] (up to a delimiter, which must be in buf) is one of
 * names, compared in ASCII lowercase. */
static int name_in(const unsigned char *b, Py_ssize_t p, Py_ssize_t n, const Names *names) {
    Py_ssize_t len = 0;
    while (p + len < n && !is_delim(b[p + len]))
        len++;
    if (p + len >= n || len >= MAX_NAME || !(names->lengths & (1u << len)))
        return 0; /* at the end of buf the name may go on in the next chunk */
    char low[MAX_NAME];
    for (Py_ssize_t i = 0; i < len; i++)
        low[i] = (char)(b[p + i] >= 'A' && b[p + i] <= 'Z' ? b[p + i] | 0x20 : b[p + i]);
    for (Py_ssize_t i = 0; i < names->count; i++)
        if (names->len[i] == len && memcmp(names->name[i], low, (size_t)len) == 0)
            return 1;
    return 0;
}

/* neutralise._MAY_BE_REMOTE_RE: [/\\][\t\n\r]*[/\\]|[&:] somewhere in b[p..end). */
static int may_be_remote(const unsigned char *b, Py_ssize_t p, Py_ssize_t end) {
    for (; p < end; p++) {
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
    }
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

/* One '<' at p: the end of the markup the skip may pass over, or -1 to stop at p. */
static Py_ssize_t markup(Skipper *self, const unsigned char *b, Py_ssize_t p, Py_ssize_t n,
                        int quiet_ok) {
    if (p + 1 >= n)
        return -1;
    unsigned char c = b[p + 1];
    if (is_alpha(c)) { /* a start tag */
        if (!name_in(b, p + 1, n, &self->interesting))
            return tag_rest(b, p + 2, n);
        if (!quiet_ok || !name_in(b, p + 1, n, &self->quiet))
            return -1;
        Py_ssize_t end = tag_rest(b, p + 2, n);
        return end < 0 || may_be_remote(b, p, end) ? -1 : end;
    }
    if (c == '/') { /* an end tag: all but </body>; or a bogus one */
        if (p + 2 < n && is_alpha(b[p + 2])) {
            if (p + 6 < n && is_delim(b[p + 6]) && (b[p + 2] | 0x20) == 'b'
                    && (b[p + 3] | 0x20) == 'o' && (b[p + 4] | 0x20) == 'd'
                    && (b[p + 5] | 0x20) == 'y')
                return -1;
            return tag_rest(b, p + 3, n);
        }
        const unsigned char *gt = memchr(b + p + 2, '>', (size_t)(n - p - 2));
        return gt == NULL ? -1 : gt - b + 1;
    }
    if (c == '!' || c == '?') {
        int dashes = p + 3 < n && b[p + 2] == '-' && b[p + 3] == '-';
        if (c == '!' && dashes) { /* a comment, incl. <!--> and <!---> */
            if (p + 4 < n && b[p + 4] == '>')
                return p + 5;
            if (p + 5 < n && b[p + 4] == '-' && b[p + 5] == '>')
                return p + 6;
            return comment_end(b, p + 4, n);
        }
        if (dashes)
            return -1;
        const unsigned char *gt = memchr(b + p + 2, '>', (size_t)(n - p - 2));
        return gt == NULL ? -1 : gt - b + 1;
    }
    return p + 1; /* a lone '<' is text */
}

static PyObject *Skipper_skip(Skipper *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer view;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "skip(buf, pos, quiet_ok)");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    int quiet_ok = PyObject_IsTrue(args[2]);
    if ((pos == -1 || quiet_ok == -1) && PyErr_Occurred())
        return NULL;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *b = view.buf;
    Py_ssize_t n = view.len;
    if (pos < 0)
        pos = 0;
    while (pos < n) {
        if (b[pos] != '<') {
            const unsigned char *lt = memchr(b + pos, '<', (size_t)(n - pos));
            pos = lt == NULL ? n : lt - b;
            continue;
        }
        Py_ssize_t end = markup(self, b, pos, n, quiet_ok);
        if (end < 0)
            break;
        pos = end;
    }
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(pos > n ? n : pos);
}

/* Copy a tuple of lowercase bytes names into a Names table. */
static int set_names(Names *names, PyObject *tuple) {
    if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) > MAX_NAMES) {
        PyErr_SetString(PyExc_TypeError, "names must be a tuple of at most 64 bytes");
        return -1;
    }
    names->count = PyTuple_GET_SIZE(tuple);
    names->lengths = 0;
    for (Py_ssize_t i = 0; i < names->count; i++) {
        PyObject *name = PyTuple_GET_ITEM(tuple, i);
        if (!PyBytes_Check(name) || PyBytes_GET_SIZE(name) >= MAX_NAME) {
            PyErr_SetString(PyExc_ValueError, "each name must be bytes shorter than 16");
            return -1;
        }
        names->len[i] = (unsigned char)PyBytes_GET_SIZE(name);
        memcpy(names->name[i], PyBytes_AS_STRING(name), names->len[i]);
        names->lengths |= 1u << names->len[i];
    }
    return 0;
}

static int Skipper_init(Skipper *self, PyObject *args, PyObject *kwds) {
    PyObject *interesting, *quiet;
    static char *kwlist[] = {"interesting", "quiet", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO", kwlist, &interesting, &quiet))
        return -1;
    return set_names(&self->interesting, interesting) < 0 ? -1
                                                         : set_names(&self->quiet, quiet);
}

static PyMethodDef Skipper_methods[] = {
    {"skip", (PyCFunction)(void (*)(void))Skipper_skip, METH_FASTCALL,
     "skip(buf, pos, quiet_ok) -> the end of what passes through untouched"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject SkipperType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "consentproxy.rewrite._skip.Skipper",
    .tp_basicsize = sizeof(Skipper),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Skipper(interesting, quiet): the rewriter's skip loop, in C.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Skipper_init,
    .tp_methods = Skipper_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_skip", "The HTML rewriter's skip loop in C.", -1, NULL,
};

PyMODINIT_FUNC PyInit__skip(void) {
    cls['\t'] = cls['\n'] = cls['\f'] = cls['\r'] = cls[' '] = WS;
    cls['/'] = SLASH;
    cls['>'] = GT;
    cls['='] = EQ;
    if (PyType_Ready(&SkipperType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Skipper", (PyObject *)&SkipperType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
