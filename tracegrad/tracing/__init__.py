"""Tracing: turning Python calls into IR and running what was compiled from it.

One concept, one package, arrows pointing one way (each module imports only those above it):
  trace     records a Python function into an IR Function (make_ir)
  compiled  a traced graph compiled into entries (forward, adjoint, fused step) and called
  scalars   concrete-value requests (asscalar, bool, float) kept symbolic while tracing
  guards    the guard tree: native segments joined by guards, one per branch outcome
  loops     while_loop / foreach as one op with IR regions, lowered to a native loop
  branches  cond as one op with two IR branch regions, lowered to a native branch
  jit       tracegrad.jit and hybridize's call path: keys, variants, bounds, explain()
  serving   a hybridized block's call outside record() straight to the leaf its last one ran
  capture   the usual eager/hybridized training step recognised and run as native calls
  update_fusion  that step and trainer.step's update as one native call (backward holds it)
It sits above nd/array/autograd's tape and below gluon.
"""
