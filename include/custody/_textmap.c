/*
 * custody._textmap: the byte map of custody.identifiers._nfkc in one pass in C.
 *
 * custody.identifiers._nfkc.nfkc computes NFKC of an Arrow string array: a value made only of
 * ASCII, of the characters of its STABLE table and of full-width forms (U+FF01-U+FF5E) and the
 * ideographic space (U+3000) is "quick", and its NFKC is the character-by-character map (full-width
 * form to its ASCII character, ideographic space to a space, everything else unchanged); the other
 * values go to utf8proc. The NumPy implementation there (an RE2 test, then byte passes) is the
 * reference and the fallback; this module does the same in one pass over the bytes without the
 * interpreter lock. tests/identifiers/test_nfkc.py holds the two equal (property tests).
 *
 * quick_map(offsets, data, stable) -> (quick, new_offsets, new_data)
 *   offsets: int64, n + 1 of them, into data (uint8); stable: the 65,536-bit table (8,192 bytes,
 *   bit c set when the BMP code point c is stable). quick: n bytes (1 quick, 0 not); new_offsets:
 *   int64, n + 1; new_data: a quick value mapped, any other value's bytes copied unchanged.
 * Malformed UTF-8 (a stray continuation byte, a truncated or overlong sequence, a surrogate) makes
 * its value not quick; offsets out of order or out of bounds raise ValueError.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static inline int stable(const uint8_t *table, uint32_t cp) {
    return (table[cp >> 3] >> (cp & 7)) & 1;
}

/* Map one value [s, s + len) into out; return the bytes written, or -1 when it is not quick. */
static int64_t map_value(const uint8_t *s, int64_t len, const uint8_t *table, uint8_t *out) {
    int64_t i = 0, w = 0;
    while (i < len) {
        uint8_t b = s[i];
        if (b < 0x80) {
            out[w++] = b;
            i += 1;
            continue;
        }
        if (b >= 0xC2 && b <= 0xDF) { /* two bytes: U+0080-U+07FF */
            if (i + 1 >= len || (s[i + 1] & 0xC0) != 0x80) return -1;
            uint32_t cp = ((uint32_t)(b & 0x1F) << 6) | (s[i + 1] & 0x3F);
            if (!stable(table, cp)) return -1;
            out[w++] = b;
            out[w++] = s[i + 1];
            i += 2;
            continue;
        }
        if (b >= 0xE0 && b <= 0xEF) { /* three bytes: U+0800-U+FFFF */
            if (i + 2 >= len || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80) return -1;
            uint32_t cp = ((uint32_t)(b & 0x0F) << 12) | ((uint32_t)(s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
            if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return -1; /* overlong, surrogate */
            if (cp >= 0xFF01 && cp <= 0xFF5E) {
                out[w++] = (uint8_t)(cp - 0xFEE0);
            } else if (cp == 0x3000) {
                out[w++] = 0x20;
            } else if (stable(table, cp)) {
                out[w++] = b;
                out[w++] = s[i + 1];
                out[w++] = s[i + 2];
            } else {
                return -1;
            }
            i += 3;
            continue;
        }
        return -1; /* four-byte sequences (outside the table) and malformed lead bytes */
    }
    return w;
}

static PyObject *quick_map(PyObject *self, PyObject *args) {
    Py_buffer offsets, data, table;
    if (!PyArg_ParseTuple(args, "y*y*y*", &offsets, &data, &table)) return NULL;
    PyObject *result = NULL, *quick = NULL, *new_offsets = NULL, *new_data = NULL;
    if (offsets.len % 8 != 0 || offsets.len < 8 || table.len != 8192) {
        PyErr_SetString(PyExc_ValueError, "quick_map: bad offsets or table buffer");
        goto done;
    }
    int64_t n = offsets.len / 8 - 1;
    const int64_t *off = (const int64_t *)offsets.buf;
    const uint8_t *bytes = (const uint8_t *)data.buf;
    for (int64_t r = 0; r < n; r++) {
        if (off[r] < 0 || off[r] > off[r + 1] || off[r + 1] > data.len) {
            PyErr_SetString(PyExc_ValueError, "quick_map: offsets out of order or out of bounds");
            goto done;
        }
    }
    quick = PyBytes_FromStringAndSize(NULL, n);
    new_offsets = PyBytes_FromStringAndSize(NULL, (n + 1) * 8);
    /* A mapped value is never longer than the value. */
    new_data = PyBytes_FromStringAndSize(NULL, off[n] - off[0]);
    if (!quick || !new_offsets || !new_data) goto done;
    uint8_t *q = (uint8_t *)PyBytes_AS_STRING(quick);
    int64_t *no = (int64_t *)PyBytes_AS_STRING(new_offsets);
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(new_data);
    const uint8_t *tbl = (const uint8_t *)table.buf;
    int64_t w = 0;
    Py_BEGIN_ALLOW_THREADS
    no[0] = 0;
    for (int64_t r = 0; r < n; r++) {
        const uint8_t *s = bytes + off[r];
        int64_t len = off[r + 1] - off[r];
        int64_t got = map_value(s, len, tbl, out + w);
        if (got < 0) {
            memcpy(out + w, s, (size_t)len);
            got = len;
            q[r] = 0;
        } else {
            q[r] = 1;
        }
        w += got;
        no[r + 1] = w;
    }
    Py_END_ALLOW_THREADS
    if (_PyBytes_Resize(&new_data, w) < 0) goto done;
    result = Py_BuildValue("(OOO)", quick, new_offsets, new_data);
done:
    Py_XDECREF(quick);
    Py_XDECREF(new_offsets);
    Py_XDECREF(new_data);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&data);
    PyBuffer_Release(&table);
    return result;
}

static PyMethodDef methods[] = {
    {"quick_map", quick_map, METH_VARARGS, "Map the quick values of a string array's buffers (see the module)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "custody._textmap", NULL, -1, methods};

PyMODINIT_FUNC PyInit__textmap(void) { return PyModule_Create(&module); }
