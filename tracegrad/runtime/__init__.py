"""Running IR: the numpy interpreter, the eager tape, and (later) compiled modules."""
