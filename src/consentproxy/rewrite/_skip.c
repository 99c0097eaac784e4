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

typedef struct {
    PyObject_HEAD
    PyObject *interesting; /* tuple of lowercase tag names that stop the skip */
    PyObject *quiet;       /* the subset that may be stepped over when quiet_ok */
} Skipper;

static int is_ws(unsigned char c) {
    return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' ';
}

static int is_delim(unsigned char c) { return is_ws(c) || c == '/' || c == '>'; }

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
        while (q < n && !is_delim(b[q]) && b[q] != '=')
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
        while (r < n && !is_ws(b[r]) && b[r] != '>')
            r++;
        q = r;
    }
    return -1;
}

/* Whether the tag name at b[p..] (up to a delimiter, which must be in buf) is one of
 * names, compared in ASCII lowercase. */
static int name_in(const unsigned char *b, Py_ssize_t p, Py_ssize_t n, PyObject *names) {
    char low[MAX_NAME];
    Py_ssize_t len = 0;
    while (p + len < n && !is_delim(b[p + len])) {
        if (len == MAX_NAME)
            return 0;
        unsigned char c = b[p + len];
        low[len++] = (char)(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
    }
    if (p + len >= n)
        return 0; /* the name may go on in the next chunk */
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        if (PyBytes_GET_SIZE(name) == len && memcmp(PyBytes_AS_STRING(name), low, len) == 0)
            return 1;
    }
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
        if (!name_in(b, p + 1, n, self->interesting))
            return tag_rest(b, p + 2, n);
        if (!quiet_ok || !name_in(b, p + 1, n, self->quiet))
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

static int check_names(PyObject *names) {
    if (!PyTuple_Check(names)) {
        PyErr_SetString(PyExc_TypeError, "names must be a tuple of bytes");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        if (!PyBytes_Check(name) || PyBytes_GET_SIZE(name) > MAX_NAME) {
            PyErr_SetString(PyExc_ValueError, "names must be bytes of at most 16 bytes");
            return -1;
        }
    }
    return 0;
}

static int Skipper_init(Skipper *self, PyObject *args, PyObject *kwds) {
    PyObject *interesting, *quiet;
    static char *kwlist[] = {"interesting", "quiet", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO", kwlist, &interesting, &quiet))
        return -1;
    if (check_names(interesting) < 0 || check_names(quiet) < 0)
        return -1;
    Py_INCREF(interesting);
    Py_INCREF(quiet);
    Py_XSETREF(self->interesting, interesting);
    Py_XSETREF(self->quiet, quiet);
    return 0;
}

static void Skipper_dealloc(Skipper *self) {
    Py_XDECREF(self->interesting);
    Py_XDECREF(self->quiet);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Skipper_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    Skipper *self = (Skipper *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->interesting = PyTuple_New(0);
        self->quiet = PyTuple_New(0);
        if (self->interesting == NULL || self->quiet == NULL) {
            Py_DECREF(self);
            return NULL;
        }
    }
    return (PyObject *)self;
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
    .tp_new = Skipper_new,
    .tp_init = (initproc)Skipper_init,
    .tp_dealloc = (destructor)Skipper_dealloc,
    .tp_methods = Skipper_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_skip", "The HTML rewriter's skip loop in C.", -1, NULL,
};

PyMODINIT_FUNC PyInit__skip(void) {
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
