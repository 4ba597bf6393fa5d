"""sim.model.uniforms.Uniforms hands out exactly the draws of the generator it wraps, whatever the pieces."""

import numpy as np

from sim.model.uniforms import MAX_BLOCK, Uniforms


def test_pieces_equal_one_block_of_draws():
    pieces = np.random.default_rng(1).integers(0, 400, size=300).tolist()  # up to several doubled blocks
    u = Uniforms(np.random.default_rng(7))
    got: list[float] = []
    for i, k in enumerate(pieces):
        got += u.take(k) if i % 3 else [u.one() for _ in range(k)]
    want = np.random.default_rng(7).random(sum(pieces)).tolist()
    assert got == want
    assert u.block == MAX_BLOCK  # the block grew with use
