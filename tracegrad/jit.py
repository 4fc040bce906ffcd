"""Compiled execution of traced functions and hybridized blocks (see hybrid_call)."""


def hybrid_call(block, *args):
    """Run a hybridized block. Until native compilation lands this runs the forward eagerly,
    which gives identical results."""
    return block.forward(*args)
