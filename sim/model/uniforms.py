"""The uniforms of one random stream (``sim/streams.py``), fetched in blocks for the model's processes.

A module of the model package so that it is compiled with the model (``sim/native.py``): the
processes call it for every session, review and supervision request.
"""

from __future__ import annotations

import numpy as np

MAX_BLOCK = 1024  # larger blocks save no measurable call overhead and fetch more values never used


class Uniforms:
    """The uniform draws of one stream, fetched in blocks and handed out as Python floats.

    ``take(k)`` returns exactly the values ``rng.random(k)`` would (NumPy's generators fill an array
    of uniforms one 64-bit draw after another, so a block split in pieces equals the pieces drawn one
    by one), at a fraction of the cost of a NumPy call per draw. Once a stream is wrapped, draw from it
    only through the wrapper: a direct draw from ``rng`` would skip the values already fetched.
    The block doubles at each fetch (up to :data:`MAX_BLOCK`): a stream used a few times fetches little,
    a busy one (attendance in a community of 150 consumers) calls NumPy rarely.
    """

    __slots__ = ("block", "buf", "pos", "rng", "size")

    def __init__(self, rng: np.random.Generator, block: int = 64):
        self.rng, self.block = rng, block
        self.buf: list[float] = []
        self.pos = self.size = 0  # next value to hand out; values fetched

    def take(self, k: int) -> list[float]:
        pos = self.pos
        end = pos + k
        if end > self.size:
            fresh = self.rng.random(max(self.block, k)).tolist()
            self.buf = self.buf[pos:] + fresh if pos < self.size else fresh  # no copy when all were used
            self.size = len(self.buf)
            self.block = min(2 * self.block, MAX_BLOCK)
            pos, end = 0, k
        self.pos = end
        return self.buf[pos:end]

    def one(self) -> float:
        pos = self.pos
        if pos >= self.size:
            self.buf = self.rng.random(self.block).tolist()
            self.size = len(self.buf)
            self.block = min(2 * self.block, MAX_BLOCK)
            pos = 0
        self.pos = pos + 1
        return self.buf[pos]
