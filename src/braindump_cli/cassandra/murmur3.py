"""Murmur3Partitioner tokens, bit for bit as Cassandra computes them.

Cassandra's `MurmurHash.hash3_x64_128` reads the 16-byte body blocks as unsigned little-endian
longs but sign-extends each byte of the tail (Java `byte` is signed), so its tokens differ from the
reference MurmurHash3 for keys whose tail holds bytes >= 0x80. `Murmur3Partitioner.getToken` keeps
the first 64-bit half, maps an empty key to the minimum token and Long.MIN_VALUE to Long.MAX_VALUE
(the minimum token is reserved for "before every key").
"""

from __future__ import annotations

import struct

MIN_TOKEN = -(2**63)
MAX_TOKEN = 2**63 - 1

_MASK = (1 << 64) - 1
_C1 = 0x87C37B91114253D5
_C2 = 0x4CF5AD432745937F
_BLOCK = struct.Struct("<QQ")


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _MASK


def _fmix(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _MASK
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _MASK
    k ^= k >> 33
    return k


def _signed(x: int) -> int:
    return x - (1 << 64) if x >= 1 << 63 else x


def hash3_x64_128(data: bytes, seed: int = 0) -> tuple[int, int]:
    """Cassandra's MurmurHash3 x64 128-bit variant; both halves as signed 64-bit ints."""
    length = len(data)
    nblocks = length // 16
    h1 = h2 = seed & _MASK
    for i in range(nblocks):
        k1, k2 = _BLOCK.unpack_from(data, i * 16)
        k1 = (k1 * _C1) & _MASK
        k1 = _rotl(k1, 31)
        k1 = (k1 * _C2) & _MASK
        h1 ^= k1
        h1 = _rotl(h1, 27)
        h1 = (h1 + h2) & _MASK
        h1 = (h1 * 5 + 0x52DCE729) & _MASK
        k2 = (k2 * _C2) & _MASK
        k2 = _rotl(k2, 33)
        k2 = (k2 * _C1) & _MASK
        h2 ^= k2
        h2 = _rotl(h2, 31)
        h2 = (h2 + h1) & _MASK
        h2 = (h2 * 5 + 0x38495AB5) & _MASK

    tail = data[nblocks * 16 :]
    k1 = k2 = 0
    # Java sign-extends each tail byte before shifting: (long) key.get(i) << n.
    for j in range(len(tail) - 1, 7, -1):
        b = tail[j] - 256 if tail[j] >= 128 else tail[j]
        k2 ^= (b << ((j - 8) * 8)) & _MASK
    if len(tail) > 8:
        k2 = (k2 * _C2) & _MASK
        k2 = _rotl(k2, 33)
        k2 = (k2 * _C1) & _MASK
        h2 ^= k2
    for j in range(min(len(tail), 8) - 1, -1, -1):
        b = tail[j] - 256 if tail[j] >= 128 else tail[j]
        k1 ^= (b << (j * 8)) & _MASK
    if tail:
        k1 = (k1 * _C1) & _MASK
        k1 = _rotl(k1, 31)
        k1 = (k1 * _C2) & _MASK
        h1 ^= k1

    h1 ^= length
    h2 ^= length
    h1 = (h1 + h2) & _MASK
    h2 = (h2 + h1) & _MASK
    h1 = _fmix(h1)
    h2 = _fmix(h2)
    h1 = (h1 + h2) & _MASK
    h2 = (h2 + h1) & _MASK
    return _signed(h1), _signed(h2)


def murmur3_token(key: bytes) -> int:
    """The Murmur3Partitioner token of a serialised partition key."""
    if not key:
        return MIN_TOKEN
    h = hash3_x64_128(key)[0]
    return MAX_TOKEN if h == MIN_TOKEN else h
