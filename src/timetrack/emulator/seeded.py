"""Seeded hashing: values that depend only on the seed and a record, never on request order.

`draw`/`unit` hash arbitrary parts (slow-ish, for small entities and secrets); `mix` and
`mix_many` are one splitmix64 step over an integer key, identical in Python and numpy, for
per-record decisions on pages of a thousand time entries.
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

_MASK = (1 << 64) - 1


def draw(seed: int, *parts: object) -> int:
    """A 64-bit integer from the seed and the parts."""
    text = "|".join([str(seed), *map(str, parts)])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def unit(seed: int, *parts: object) -> float:
    """A number in [0, 1) from the seed and the parts."""
    return draw(seed, *parts) / 2**64


def secret(seed: int, *parts: object) -> str:
    """32 hex characters from the seed and the parts, for generated tokens and links."""
    text = "|".join([str(seed), *map(str, parts)])
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def mix(salt: int, key: int) -> int:
    """splitmix64 of `salt ^ key` (both taken modulo 2**64)."""
    x = ((salt ^ key) + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def mix_many(salt: int, keys: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
    """mix() over an array of keys at once."""
    x = np.asarray(keys).astype(np.uint64) ^ np.uint64(salt & _MASK)
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    result: npt.NDArray[np.uint64] = x ^ (x >> np.uint64(31))
    return result
