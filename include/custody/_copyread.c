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

static PyMethodDef methods[] = {
    {"read_block", read_block, METH_VARARGS, read_block_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "custody._copyread",
    "COPY TO STDOUT read in C, block by block (see custody.extract.copy_native).", -1, methods,
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
