"""Build of Custody's three compiled modules; the project's metadata is in pyproject.toml.

- ``custody._rowhash`` (include/custody/_rowhash.c) computes the row hashes of docs/format.md
  section 3 in C against OpenSSL's libcrypto;
- ``custody._copyread`` (include/custody/_copyread.c) reads a PostgreSQL COPY block by block
  through the libpq psycopg runs on;
- ``custody._textmap`` (include/custody/_textmap.c) maps the CJK text of a string array to its
  NFKC byte by byte (``custody.identifiers._nfkc``).

All are optional: where they cannot be built (no C compiler, no Python or OpenSSL headers) the
install goes on, and ``custody.hashing``, ``custody.extract.copy_session`` and
``custody.identifiers._nfkc`` use their Python paths, which give the same results more slowly.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "custody._rowhash",
            sources=["include/custody/_rowhash.c"],
            libraries=["crypto"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
        Extension(
            "custody._copyread",
            sources=["include/custody/_copyread.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
        Extension(
            "custody._textmap",
            sources=["include/custody/_textmap.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
    ]
)
