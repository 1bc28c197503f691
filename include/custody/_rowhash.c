/*
 * custody._rowhash: the row hash of docs/format.md section 3 computed in one pass in C.
 *
 * The Python/Arrow implementation (custody.hashing.canonical_rows, then one hashlib call per row)
 * is the reference; this module computes the same digests without a Python call per row and
 * without the interpreter lock, so the stage threads of an extraction hash in parallel. Both are
 * checked against each other by tests/core/test_rowhash_native.py (property tests) and against
 * the examples of docs/format.md section 3.3.
 *
 * Input: the text of each column (Arrow string or large_string arrays, as custody.hashing._as_text
 * renders them) given by its buffers. For every row the canonical row is assembled in a scratch
 * buffer: an optional prefix, then per column `,` between fields, `N` for a null or
 * `<code points>:<utf-8 text>`; its SHA-256 (OpenSSL's SHA256_Init/Update/Final, which use the
 * CPU's SHA extensions where present) is written to the output. Every offset is bounds-checked
 * against its buffer, so a malformed array raises ValueError instead of reading out of bounds.
 */
#define PY_SSIZE_T_CLEAN
#define OPENSSL_SUPPRESS_DEPRECATED
#include <Python.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <string.h>

/* Column kinds: text (Arrow string / large_string buffers) or a fixed-width value rendered here
 * exactly as Arrow's cast to string renders it (docs/format.md section 3.2). */
enum kind { K_TEXT, K_INT, K_UINT, K_DATE32, K_TS_US, K_TS_US_Z };

typedef struct {
    Py_buffer validity, offsets, data;
    int has_validity, has_offsets, has_data;
    int64_t offset; /* Arrow array offset (rows) */
    int wide;       /* text: large_string (64-bit offsets); numbers: bytes per value */
    int kind;
} column_t;

static void release_columns(column_t *cols, Py_ssize_t k) {
    for (Py_ssize_t i = 0; i < k; i++) {
        if (cols[i].has_validity) PyBuffer_Release(&cols[i].validity);
        if (cols[i].has_offsets) PyBuffer_Release(&cols[i].offsets);
        if (cols[i].has_data) PyBuffer_Release(&cols[i].data);
    }
    PyMem_Free(cols);
}

static inline int64_t offset_at(const column_t *c, int64_t i) {
    if (c->wide == 8) return ((const int64_t *)c->offsets.buf)[i];
    return ((const int32_t *)c->offsets.buf)[i];
}

static inline int is_valid(const column_t *c, int64_t i) {
    if (!c->has_validity) return 1;
    const uint8_t *bits = (const uint8_t *)c->validity.buf;
    return (bits[i >> 3] >> (i & 7)) & 1;
}

/* Unicode code points of valid UTF-8: bytes that are not continuation bytes (10xxxxxx). */
static inline int64_t code_points(const uint8_t *s, int64_t n) {
    int64_t cont = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        cont += __builtin_popcountll(x & ~(x << 1) & 0x8080808080808080ULL);
    }
    for (; i < n; i++) cont += (s[i] & 0xC0) == 0x80;
    return n - cont;
}

static inline int udecimal(uint64_t v, char *out) { /* returns digits written */
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

static inline int decimal(int64_t v, char *out) {
    if (v < 0) {
        out[0] = '-';
        return 1 + udecimal((uint64_t)0 - (uint64_t)v, out + 1);
    }
    return udecimal((uint64_t)v, out);
}

static inline void two(char *p, int v) { p[0] = (char)('0' + v / 10); p[1] = (char)('0' + v % 10); }

/* YYYY-MM-DD of days since 1970-01-01 (proleptic Gregorian, H. Hinnant's civil_from_days).
 * Returns 10, or -1 when the year is outside 0..9999 (Arrow writes more digits there). */
static inline int render_date(int64_t days, char *p) {
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    if (y < 0 || y > 9999) return -1;
    two(p, (int)(y / 100));
    two(p + 2, (int)(y % 100));
    p[4] = '-';
    two(p + 5, (int)m);
    p[7] = '-';
    two(p + 8, (int)d);
    return 10;
}

/* YYYY-MM-DD HH:MM:SS.ffffff of microseconds since the epoch; -1 outside years 0..9999. */
static inline int render_ts_us(int64_t us, char *p) {
    const int64_t day = 86400000000LL;
    int64_t days = us / day, rem = us % day;
    if (rem < 0) {
        rem += day;
        days -= 1;
    }
    if (render_date(days, p) < 0) return -1;
    int64_t secs = rem / 1000000, frac = rem % 1000000;
    p[10] = ' ';
    two(p + 11, (int)(secs / 3600));
    p[13] = ':';
    two(p + 14, (int)(secs / 60 % 60));
    p[16] = ':';
    two(p + 17, (int)(secs % 60));
    p[19] = '.';
    for (int i = 25; i >= 20; i--) {
        p[i] = (char)('0' + frac % 10);
        frac /= 10;
    }
    return 26;
}

static inline int64_t int_at(const column_t *c, int64_t i) {
    const void *b = c->offsets.buf;
    switch (c->wide) {
        case 1: return c->kind == K_INT ? (int64_t)((const int8_t *)b)[i] : (int64_t)((const uint8_t *)b)[i];
        case 2: return c->kind == K_INT ? (int64_t)((const int16_t *)b)[i] : (int64_t)((const uint16_t *)b)[i];
        case 4: return c->kind == K_INT ? (int64_t)((const int32_t *)b)[i] : (int64_t)((const uint32_t *)b)[i];
        default: return ((const int64_t *)b)[i];
    }
}

/* The rendering of a fixed-width value into p (at least 32 bytes); -1 when out of range. */
static inline int render_value(const column_t *c, int64_t i, char *p) {
    switch (c->kind) {
        case K_INT: return decimal(int_at(c, i), p);
        case K_UINT: return c->wide == 8 ? udecimal(((const uint64_t *)c->offsets.buf)[i], p)
                                         : udecimal((uint64_t)int_at(c, i), p);
        case K_DATE32: return render_date(((const int32_t *)c->offsets.buf)[i], p);
        case K_TS_US: return render_ts_us(((const int64_t *)c->offsets.buf)[i], p);
        default: {
            int n = render_ts_us(((const int64_t *)c->offsets.buf)[i], p);
            if (n < 0) return -1;
            p[n] = 'Z';
            return n + 1;
        }
    }
}

/* Parse one column description: (kind, validity | None, values or offsets, data | None, offset).
 * kind: "s" / "S" text with 32- / 64-bit offsets; "i1".."i8", "u1".."u8" integers of that many
 * bytes; "d" date32; "t" timestamp[us]; "z" timestamp[us] rendered with a trailing Z (UTC). */
static int parse_column(PyObject *item, column_t *c, int64_t n) {
    const char *kind;
    PyObject *validity, *offsets, *data;
    long long offset;
    if (!PyArg_ParseTuple(item, "sOOOL", &kind, &validity, &offsets, &data, &offset)) return -1;
    c->offset = offset;
    if (!strcmp(kind, "s") || !strcmp(kind, "S")) {
        c->kind = K_TEXT;
        c->wide = kind[0] == 'S' ? 8 : 4;
    } else if ((kind[0] == 'i' || kind[0] == 'u') && strlen(kind) == 2 &&
               (kind[1] == '1' || kind[1] == '2' || kind[1] == '4' || kind[1] == '8')) {
        c->kind = kind[0] == 'i' ? K_INT : K_UINT;
        c->wide = kind[1] - '0';
    } else if (!strcmp(kind, "d")) {
        c->kind = K_DATE32;
        c->wide = 4;
    } else if (!strcmp(kind, "t") || !strcmp(kind, "z")) {
        c->kind = kind[0] == 't' ? K_TS_US : K_TS_US_Z;
        c->wide = 8;
    } else {
        PyErr_SetString(PyExc_ValueError, "unknown column kind");
        return -1;
    }
    if (offset < 0) {
        PyErr_SetString(PyExc_ValueError, "negative array offset");
        return -1;
    }
    if (validity != Py_None) {
        if (PyObject_GetBuffer(validity, &c->validity, PyBUF_SIMPLE) < 0) return -1;
        c->has_validity = 1;
        if (c->validity.len < (offset + n + 7) / 8) {
            PyErr_SetString(PyExc_ValueError, "validity buffer too short");
            return -1;
        }
    }
    if (PyObject_GetBuffer(offsets, &c->offsets, PyBUF_SIMPLE) < 0) return -1;
    c->has_offsets = 1;
    int64_t need = c->kind == K_TEXT ? (offset + n + 1) * c->wide : (offset + n) * c->wide;
    if (c->offsets.len < need) {
        PyErr_SetString(PyExc_ValueError, c->kind == K_TEXT ? "offsets buffer too short" : "values buffer too short");
        return -1;
    }
    if (data != Py_None) {
        if (PyObject_GetBuffer(data, &c->data, PyBUF_SIMPLE) < 0) return -1;
        c->has_data = 1;
    }
    return 0;
}

static int grow(uint8_t **buf, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t size = *cap ? *cap : 4096;
    while (size < need) size *= 2;
    uint8_t *p = (uint8_t *)PyMem_RawRealloc(*buf, size);
    if (!p) return -1;
    *buf = p;
    *cap = size;
    return 0;
}

/* The GIL-free part. Returns 0, or -1 (bad offsets, *bad_column set), -2 (out of memory) or -3
 * (a date or timestamp outside years 0..9999, *bad_column set). */
static int hash_rows(const column_t *cols, Py_ssize_t k, int64_t n, const uint8_t *prefix, size_t plen,
                     uint8_t *out, Py_ssize_t *bad_column) {
    uint8_t *row = NULL;
    size_t cap = 0;
    int status = 0;
    for (int64_t r = 0; r < n && status == 0; r++) {
        size_t len = plen;
        for (Py_ssize_t j = 0; j < k; j++) { /* length of the row, offsets checked */
            const column_t *c = &cols[j];
            int64_t i = c->offset + r;
            len += j > 0;
            if (!is_valid(c, i)) {
                len += 1;
                continue;
            }
            if (c->kind != K_TEXT) {
                len += 4 + 32;
                continue;
            }
            int64_t a = offset_at(c, i), b = offset_at(c, i + 1);
            int64_t size = c->has_data ? (int64_t)c->data.len : 0;
            if (a < 0 || b < a || b > size) {
                *bad_column = j;
                status = -1;
                break;
            }
            len += 21 + (size_t)(b - a);
        }
        if (status || grow(&row, &cap, len)) {
            if (!status) status = -2;
            break;
        }
        uint8_t *p = row;
        memcpy(p, prefix, plen);
        p += plen;
        for (Py_ssize_t j = 0; j < k; j++) {
            const column_t *c = &cols[j];
            int64_t i = c->offset + r;
            if (j > 0) *p++ = ',';
            if (!is_valid(c, i)) {
                *p++ = 'N';
                continue;
            }
            if (c->kind != K_TEXT) {
                char value[40];
                int m = render_value(c, i, value);
                if (m < 0) {
                    *bad_column = j;
                    status = -3;
                    break;
                }
                p += udecimal((uint64_t)m, (char *)p);
                *p++ = ':';
                memcpy(p, value, (size_t)m);
                p += m;
                continue;
            }
            int64_t a = offset_at(c, i), b = offset_at(c, i + 1);
            const uint8_t *text = (const uint8_t *)c->data.buf + a;
            p += udecimal((uint64_t)code_points(text, b - a), (char *)p);
            *p++ = ':';
            memcpy(p, text, (size_t)(b - a));
            p += b - a;
        }
        if (status) break;
        SHA256_CTX ctx;
        SHA256_Init(&ctx);
        SHA256_Update(&ctx, row, (size_t)(p - row));
        SHA256_Final(out + 32 * r, &ctx);
    }
    PyMem_RawFree(row);
    return status;
}

PyDoc_STRVAR(digest_rows_doc,
"digest_rows(columns, n, prefix=b'') -> bytes\n\n"
"SHA-256 of each of the n canonical rows (docs/format.md section 3.1), concatenated (32 * n bytes).\n"
"columns: one (kind, validity or None, offsets or values, data or None, offset) tuple per column,\n"
"the buffers of an Arrow array: kind 's' / 'S' for the column's text as string / large_string;\n"
"'i1'..'i8' / 'u1'..'u8' signed / unsigned integers; 'd' date32; 't' timestamp[us]; 'z' timestamp[us]\n"
"rendered with a trailing Z. prefix: bytes put before every row (the row-key rendering).\n"
"Raises OverflowError for a date or timestamp outside years 0-9999 (render it as text instead).\n"
"Runs without the GIL.");

static PyObject *digest_rows(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"columns", "n", "prefix", NULL};
    PyObject *columns;
    long long n;
    Py_buffer prefix = {0};
    int has_prefix = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OL|y*", kwlist, &columns, &n, &prefix)) return NULL;
    has_prefix = prefix.obj != NULL || prefix.buf != NULL;
    PyObject *seq = PySequence_Fast(columns, "columns must be a sequence");
    if (!seq) goto fail_prefix;
    if (n < 0 || n > PY_SSIZE_T_MAX / 32) {
        PyErr_SetString(PyExc_ValueError, "bad row count");
        Py_DECREF(seq);
        goto fail_prefix;
    }
    Py_ssize_t k = PySequence_Fast_GET_SIZE(seq);
    column_t *cols = (column_t *)PyMem_Calloc(k ? k : 1, sizeof(column_t));
    if (!cols) {
        PyErr_NoMemory();
        Py_DECREF(seq);
        goto fail_prefix;
    }
    for (Py_ssize_t j = 0; j < k; j++) {
        if (parse_column(PySequence_Fast_GET_ITEM(seq, j), &cols[j], n) < 0) {
            release_columns(cols, k);
            Py_DECREF(seq);
            goto fail_prefix;
        }
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(32 * n));
    if (!result) {
        release_columns(cols, k);
        Py_DECREF(seq);
        goto fail_prefix;
    }
    Py_ssize_t bad = -1;
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = hash_rows(cols, k, n, has_prefix ? (const uint8_t *)prefix.buf : (const uint8_t *)"",
                       has_prefix ? (size_t)prefix.len : 0, (uint8_t *)PyBytes_AS_STRING(result), &bad);
    Py_END_ALLOW_THREADS
    release_columns(cols, k);
    Py_DECREF(seq);
    if (has_prefix) PyBuffer_Release(&prefix);
    if (status == -1) {
        Py_DECREF(result);
        PyErr_Format(PyExc_ValueError, "column %zd: offsets outside its data buffer", bad);
        return NULL;
    }
    if (status == -2) {
        Py_DECREF(result);
        return PyErr_NoMemory();
    }
    if (status == -3) {
        Py_DECREF(result);
        PyErr_Format(PyExc_OverflowError, "column %zd: a date or time outside years 0-9999", bad);
        return NULL;
    }
    return result;
fail_prefix:
    if (has_prefix) PyBuffer_Release(&prefix);
    return NULL;
}

PyDoc_STRVAR(digest_slices_doc,
"digest_slices(data, offsets, offset, n, wide) -> bytes\n\n"
"SHA-256 of each of the n byte strings of an Arrow string/large_string array without nulls\n"
"(its data and offsets buffers and its array offset), concatenated. Runs without the GIL.");

static PyObject *digest_slices(PyObject *self, PyObject *args) {
    PyObject *data, *offsets;
    long long offset, n;
    int wide;
    if (!PyArg_ParseTuple(args, "OOLLp", &data, &offsets, &offset, &n, &wide)) return NULL;
    if (n < 0 || n > PY_SSIZE_T_MAX / 32) {
        PyErr_SetString(PyExc_ValueError, "bad row count");
        return NULL;
    }
    PyObject *item = Py_BuildValue("(sOOOL)", wide ? "S" : "s", Py_None, offsets, data, offset);
    if (!item) return NULL;
    column_t *cols = (column_t *)PyMem_Calloc(1, sizeof(column_t));
    if (!cols) {
        Py_DECREF(item);
        return PyErr_NoMemory();
    }
    if (parse_column(item, cols, n) < 0) {
        Py_DECREF(item);
        release_columns(cols, 1);
        return NULL;
    }
    Py_DECREF(item);
    PyObject *result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(32 * n));
    if (!result) {
        release_columns(cols, 1);
        return NULL;
    }
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(result);
    int status = 0;
    Py_BEGIN_ALLOW_THREADS
    int64_t size = cols->has_data ? (int64_t)cols->data.len : 0;
    for (int64_t r = 0; r < n; r++) {
        int64_t a = offset_at(cols, offset + r), b = offset_at(cols, offset + r + 1);
        if (a < 0 || b < a || b > size) {
            status = -1;
            break;
        }
        SHA256_CTX ctx;
        SHA256_Init(&ctx);
        SHA256_Update(&ctx, (const uint8_t *)cols->data.buf + a, (size_t)(b - a));
        SHA256_Final(out + 32 * r, &ctx);
    }
    Py_END_ALLOW_THREADS
    release_columns(cols, 1);
    if (status) {
        Py_DECREF(result);
        PyErr_SetString(PyExc_ValueError, "offsets outside the data buffer");
        return NULL;
    }
    return result;
}

static PyMethodDef methods[] = {
    {"digest_rows", (PyCFunction)(void (*)(void))digest_rows, METH_VARARGS | METH_KEYWORDS, digest_rows_doc},
    {"digest_slices", digest_slices, METH_VARARGS, digest_slices_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "custody._rowhash",
    "Row hashes of docs/format.md section 3 in C (see custody.hashing for the reference).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__rowhash(void) { return PyModule_Create(&module); }
