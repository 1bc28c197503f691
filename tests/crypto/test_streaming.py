"""Streaming AEAD: a file larger than the memory bound is encrypted and decrypted file to file.

The size is ``CUSTODY_TEST_STREAM_MIB`` MiB (default 64); memory is measured with ``tracemalloc``
(every Python-level buffer: reads, segment ciphertexts, plaintexts) and must stay within a few
segments, far below the file size.
"""

from __future__ import annotations

import hashlib
import os
import tracemalloc

from custody.crypto import decrypt_stream, encrypt_stream

MiB = 1 << 20
SIZE_MIB = int(os.environ.get("CUSTODY_TEST_STREAM_MIB", "64"))
SEGMENT = MiB
BOUND = 6 * SEGMENT  # current + look-ahead segment, one output segment, slack for the header and hashes


def _write_source(path, size_mib):
    block = os.urandom(MiB)
    sha = hashlib.sha256()
    with open(path, "wb") as fh:
        for i in range(size_mib):
            chunk = i.to_bytes(8, "big") + block[8:]  # distinct blocks, cheap to make
            sha.update(chunk)
            fh.write(chunk)
        tail = block[:12345]  # a short last segment
        sha.update(tail)
        fh.write(tail)
    return sha.hexdigest()


def _sha256_file(path):
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(4 * MiB):
            sha.update(block)
    return sha.hexdigest()


def _peak(fn):
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_file_larger_than_the_memory_bound_streams_in_segments(tmp_path, base_keyring):
    src, enc, dec = tmp_path / "plain.bin", tmp_path / "obj.cdy", tmp_path / "back.bin"
    digest = _write_source(src, SIZE_MIB)
    size = src.stat().st_size
    assert size > 8 * BOUND

    with open(src, "rb") as fin, open(enc, "wb") as fout:
        info, peak_enc = _peak(lambda: encrypt_stream(
            fin, fout, object_id="big", binding={"rows": 0}, keyring=base_keyring, segment_size=SEGMENT))
    assert info.plaintext_bytes == size and info.ciphertext_bytes == enc.stat().st_size
    segments = -(-size // SEGMENT)
    assert info.ciphertext_bytes - size == enc.stat().st_size - size >= segments * 16

    with open(enc, "rb") as fin, open(dec, "wb") as fout:
        _, peak_dec = _peak(lambda: decrypt_stream(fin, fout, keyring=base_keyring, object_id="big"))
    assert _sha256_file(dec) == digest
    assert peak_enc < BOUND and peak_dec < BOUND, (peak_enc, peak_dec)
