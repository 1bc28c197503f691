"""Build of Custody's two compiled modules; the project's metadata is in pyproject.toml.

- ``custody._rowhash`` (include/custody/_rowhash.c) computes the row hashes of docs/format.md
  section 3 in C against OpenSSL's libcrypto;
- ``custody._copyread`` (include/custody/_copyread.c) reads a PostgreSQL COPY block by block
  through the libpq psycopg runs on.

Both are optional: where they cannot be built (no C compiler, no Python or OpenSSL headers) the
install goes on, and ``custody.hashing`` and ``custody.extract.copy_session`` use their Python
paths, which give the same results more slowly.
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
    ]
)
