/*
 * custody._copyread: read a running COPY ... TO STDOUT into blocks in C, without the interpreter lock.
 *
 * libpq hands a COPY out one row per PQgetCopyData call; through psycopg that is one Python call
 * and one bytes object per row, all under the interpreter lock (about 0.8 CPU s per million rows
 * of 250 bytes). read_block makes the same calls in a C loop. It does not link libpq: the caller
 * passes the addresses of PQgetCopyData, PQconsumeInput and PQfreemem from the very libpq that
 * psycopg's connection runs on (custody.extract.copy_native finds it and checks its version), and
 * the connection's PGconn pointer and socket. The connection must be in the COPY OUT state and
 * used by no other thread meanwhile (custody.extract.copy_session's reader thread owns it).
 *
 * decode_binary turns the tuples of COPY ... (FORMAT binary) into Arrow buffers for the column
 * types whose binary form is plain (integers, bool, text, date, timestamptz): no text is formatted
 * by the server nor parsed here (custody.extract.copy_binary).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>

typedef int (*get_copy_data_fn)(void *conn, char **buffer, int async);
typedef int (*consume_input_fn)(void *conn);
typedef void (*freemem_fn)(void *ptr);

enum { MORE = 0, END = 1, FAILED = 2, IDLE = 3 };

PyDoc_STRVAR(read_block_doc,
"read_block(conn, get_copy_data, consume_input, freemem, socket, limit, timeout_ms) -> (bytes, rows, state)\n\n"
"Rows of the COPY in progress on the PGconn at address conn, concatenated, until at least limit bytes\n"
"were read (state 0), the COPY ended (1: call PQgetResult next), libpq failed (2), or no data came\n"
"for timeout_ms (3). The three functions are given by address. Runs without the GIL.");

static PyObject *read_block(PyObject *self, PyObject *args) {
    unsigned long long conn, get_addr, consume_addr, free_addr;
    int sock, timeout_ms;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "KKKKini", &conn, &get_addr, &consume_addr, &free_addr, &sock, &limit, &timeout_ms))
        return NULL;
    if (!conn || !get_addr || !consume_addr || !free_addr || sock < 0 || limit <= 0) {
        PyErr_SetString(PyExc_ValueError, "read_block needs a connection, three functions, a socket and a limit");
        return NULL;
    }
    get_copy_data_fn get = (get_copy_data_fn)(uintptr_t)get_addr;
    consume_input_fn consume = (consume_input_fn)(uintptr_t)consume_addr;
    freemem_fn release = (freemem_fn)(uintptr_t)free_addr;
    void *pg = (void *)(uintptr_t)conn;

    size_t cap = (size_t)limit + (size_t)limit / 4 + 4096, len = 0;
    char *block = (char *)PyMem_RawMalloc(cap);
    if (!block) return PyErr_NoMemory();
    long long rows = 0;
    int state = MORE, oom = 0;
    Py_BEGIN_ALLOW_THREADS
    for (;;) {
        char *buf = NULL;
        int n = get(pg, &buf, 1);
        if (n > 0) {
            if (len + (size_t)n > cap) {
                size_t want = cap;
                while (want < len + (size_t)n) want *= 2;
                char *grown = (char *)PyMem_RawRealloc(block, want);
                if (!grown) {
                    release(buf);
                    oom = 1;
                    break;
                }
                block = grown;
                cap = want;
            }
            memcpy(block + len, buf, (size_t)n);
            len += (size_t)n;
            release(buf);
            rows++;
            if (len >= (size_t)limit) {
                state = MORE;
                break;
            }
        } else if (n == 0) { /* nothing buffered: wait for the socket */
            struct pollfd p = {sock, POLLIN, 0};
            int ready = poll(&p, 1, timeout_ms);
            if (ready < 0 && errno != EINTR) {
                state = FAILED;
                break;
            }
            if (ready == 0) {
                state = IDLE;
                break;
            }
            if (!consume(pg)) {
                state = FAILED;
                break;
            }
        } else {
            if (buf) release(buf);
            state = n == -1 ? END : FAILED;
            break;
        }
    }
    Py_END_ALLOW_THREADS
    if (oom) {
        PyMem_RawFree(block);
        return PyErr_NoMemory();
    }
    PyObject *data = PyBytes_FromStringAndSize(block, (Py_ssize_t)len);
    PyMem_RawFree(block);
    if (!data) return NULL;
    return Py_BuildValue("(NLi)", data, rows, state);
}


/* ---- COPY ... (FORMAT binary) rows into Arrow buffers --------------------------------------- */

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t be64(const uint8_t *p) { return ((uint64_t)be32(p) << 32) | be32(p + 4); }

/* PostgreSQL's epoch (2000-01-01) in Unix days and microseconds; the years every path reads alike. */
#define PG_EPOCH_DAYS 10957
#define PG_EPOCH_US 946684800000000LL
#define MIN_DAYS (-719162)            /* 0001-01-01 */
#define MAX_DAYS 2932896              /* 9999-12-31 */
#define MIN_US (-62135596800000000LL) /* 0001-01-01 00:00:00 */
#define MAX_US 253402300799999999LL   /* 9999-12-31 23:59:59.999999 */

typedef struct {
    char kind;
    uint8_t *validity;
    uint8_t *values;   /* int64 / int32 / bool bitmap / int32 offsets */
    uint8_t *text;     /* string data */
    size_t text_len, text_cap;
    int64_t nulls;
} out_col;

enum { DECODED = 0, BAD_SHAPE = 1, OUT_OF_RANGE = 2, NO_MEMORY = 3 };

/* Count the rows of a block: returns rows, or -1 when the block is cut short. *ended: the trailer. */
static int64_t count_rows(const uint8_t *p, size_t n, int ncols, int *ended) {
    size_t at = 0;
    int64_t rows = 0;
    *ended = 0;
    while (at < n) {
        if (n - at < 2) return -1;
        int16_t fields = (int16_t)be16(p + at);
        at += 2;
        if (fields == -1) {
            *ended = 1;
            return at == n ? rows : -1;
        }
        if (fields != ncols) return -1;
        for (int j = 0; j < ncols; j++) {
            if (n - at < 4) return -1;
            int32_t len = (int32_t)be32(p + at);
            at += 4;
            if (len < -1 || (len > 0 && (size_t)len > n - at)) return -1;
            if (len > 0) at += (size_t)len;
        }
        rows++;
    }
    return rows;
}

static int decode_rows(const uint8_t *p, size_t n, int ncols, int64_t rows, out_col *cols, int *bad_col) {
    size_t at = 0;
    for (int64_t r = 0; r < rows; r++) {
        at += 2; /* the field count, checked by count_rows */
        for (int j = 0; j < ncols; j++) {
            out_col *c = &cols[j];
            int32_t len = (int32_t)be32(p + at);
            at += 4;
            if (len == -1) {
                c->nulls++;
                if (c->kind == 's') ((int32_t *)c->values)[r + 1] = (int32_t)c->text_len;
                continue;
            }
            c->validity[r >> 3] |= (uint8_t)(1u << (r & 7));
            const uint8_t *v = p + at;
            at += (size_t)len;
            switch (c->kind) {
                case 'i': {
                    int64_t x;
                    if (len == 8) x = (int64_t)be64(v);
                    else if (len == 4) x = (int32_t)be32(v);
                    else if (len == 2) x = (int16_t)be16(v);
                    else { *bad_col = j; return BAD_SHAPE; }
                    ((int64_t *)c->values)[r] = x;
                    break;
                }
                case 'b':
                    if (len != 1) { *bad_col = j; return BAD_SHAPE; }
                    if (v[0]) c->values[r >> 3] |= (uint8_t)(1u << (r & 7));
                    break;
                case 'd': {
                    if (len != 4) { *bad_col = j; return BAD_SHAPE; }
                    int64_t days = (int64_t)(int32_t)be32(v) + PG_EPOCH_DAYS;
                    if (days < MIN_DAYS || days > MAX_DAYS) { *bad_col = j; return OUT_OF_RANGE; }
                    ((int32_t *)c->values)[r] = (int32_t)days;
                    break;
                }
                case 'z': {
                    if (len != 8) { *bad_col = j; return BAD_SHAPE; }
                    int64_t us = (int64_t)be64(v), unix_us;
                    if (__builtin_add_overflow(us, PG_EPOCH_US, &unix_us) || unix_us < MIN_US || unix_us > MAX_US) {
                        *bad_col = j;
                        return OUT_OF_RANGE;
                    }
                    ((int64_t *)c->values)[r] = unix_us;
                    break;
                }
                default: { /* 's': the text as the server sent it (UTF-8) */
                    if (c->text_len + (size_t)len > c->text_cap) {
                        size_t want = c->text_cap ? c->text_cap : 4096;
                        while (want < c->text_len + (size_t)len) want *= 2;
                        uint8_t *grown = (uint8_t *)PyMem_RawRealloc(c->text, want);
                        if (!grown) return NO_MEMORY;
                        c->text = grown;
                        c->text_cap = want;
                    }
                    memcpy(c->text + c->text_len, v, (size_t)len);
                    c->text_len += (size_t)len;
                    if (c->text_len > INT32_MAX) { *bad_col = j; return OUT_OF_RANGE; }
                    ((int32_t *)c->values)[r + 1] = (int32_t)c->text_len;
                }
            }
        }
    }
    return DECODED;
}

PyDoc_STRVAR(decode_binary_doc,
"decode_binary(block, kinds) -> (rows, ended, columns)\n\n"
"Rows of COPY (FORMAT binary) tuples (whole rows, the file header already removed) as Arrow buffers.\n"
"kinds: one character per column: 'i' integer (int2/int4/int8 -> int64), 'b' bool, 's' text (UTF-8),\n"
"'d' date (-> date32), 'z' timestamptz (-> timestamp[us] UTC). columns: per column (validity, values,\n"
"data or None, null_count). ended: the block ends with the COPY's trailer. Raises ValueError for a\n"
"malformed block and OverflowError for a date or timestamp outside years 1-9999 (read those another\n"
"way). Decodes without the GIL.");

static PyObject *decode_binary(PyObject *self, PyObject *args) {
    Py_buffer block;
    const char *kinds;
    if (!PyArg_ParseTuple(args, "y*s", &block, &kinds)) return NULL;
    int ncols = (int)strlen(kinds);
    for (int j = 0; j < ncols; j++) {
        if (!strchr("ibsdz", kinds[j])) {
            PyBuffer_Release(&block);
            PyErr_SetString(PyExc_ValueError, "unknown column kind");
            return NULL;
        }
    }
    int ended = 0;
    int64_t rows = ncols ? count_rows((const uint8_t *)block.buf, (size_t)block.len, ncols, &ended) : -1;
    if (rows < 0) {
        PyBuffer_Release(&block);
        PyErr_SetString(PyExc_ValueError, "malformed COPY binary block");
        return NULL;
    }
    out_col *cols = (out_col *)PyMem_Calloc((size_t)ncols, sizeof(out_col));
    int status = cols ? DECODED : NO_MEMORY, bad = -1;
    size_t bitmap = (size_t)(rows + 7) / 8 + 1;
    for (int j = 0; j < ncols && status == DECODED; j++) {
        out_col *c = &cols[j];
        c->kind = kinds[j];
        size_t width = c->kind == 'i' || c->kind == 'z' ? 8 : c->kind == 'b' ? 0 : 4;
        size_t values = c->kind == 'b' ? bitmap : c->kind == 's' ? (size_t)(rows + 1) * 4 : (size_t)rows * width + 8;
        c->validity = (uint8_t *)PyMem_RawCalloc(bitmap, 1);
        c->values = (uint8_t *)PyMem_RawCalloc(values, 1);
        if (!c->validity || !c->values) status = NO_MEMORY;
    }
    if (status == DECODED) {
        Py_BEGIN_ALLOW_THREADS
        status = decode_rows((const uint8_t *)block.buf, (size_t)block.len, ncols, rows, cols, &bad);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&block);
    PyObject *result = NULL;
    if (status == NO_MEMORY) PyErr_NoMemory();
    else if (status == BAD_SHAPE) PyErr_Format(PyExc_ValueError, "column %d: a value of an unexpected size", bad);
    else if (status == OUT_OF_RANGE) PyErr_Format(PyExc_OverflowError, "column %d: a value outside years 1-9999", bad);
    else {
        PyObject *list = PyList_New(ncols);
        for (int j = 0; list && j < ncols; j++) {
            out_col *c = &cols[j];
            size_t width = c->kind == 'i' || c->kind == 'z' ? 8 : 4;
            size_t values = c->kind == 'b' ? bitmap : c->kind == 's' ? (size_t)(rows + 1) * 4 : (size_t)rows * width;
            PyObject *item = Py_BuildValue(
                "(y#y#" "O" "L)", (const char *)c->validity, (Py_ssize_t)bitmap, (const char *)c->values,
                (Py_ssize_t)values, Py_None, (long long)c->nulls);
            if (item && c->kind == 's') {
                PyObject *data = PyBytes_FromStringAndSize(c->text ? (const char *)c->text : "", (Py_ssize_t)c->text_len);
                if (!data) Py_CLEAR(item);
                else PyTuple_SetItem(item, 2, data); /* steals data, drops the None */
            }
            if (!item) {
                Py_CLEAR(list);
                break;
            }
            PyList_SET_ITEM(list, j, item);
        }
        if (list) result = Py_BuildValue("(LON)", (long long)rows, ended ? Py_True : Py_False, list);
    }
    for (int j = 0; cols && j < ncols; j++) {
        PyMem_RawFree(cols[j].validity);
        PyMem_RawFree(cols[j].values);
        PyMem_RawFree(cols[j].text);
    }
    PyMem_Free(cols);
    return result;
}

static PyMethodDef methods[] = {
    {"read_block", read_block, METH_VARARGS, read_block_doc},
    {"decode_binary", decode_binary, METH_VARARGS, decode_binary_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "custody._copyread",
    "COPY TO STDOUT read in C block by block, and binary COPY rows decoded into Arrow buffers "
    "(see custody.extract.copy_native and custody.extract.copy_binary).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__copyread(void) {
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddIntConstant(m, "MORE", MORE) < 0 || PyModule_AddIntConstant(m, "END", END) < 0 ||
        PyModule_AddIntConstant(m, "FAILED", FAILED) < 0 || PyModule_AddIntConstant(m, "IDLE", IDLE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
