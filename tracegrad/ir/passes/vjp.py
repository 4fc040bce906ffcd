"""vjp: replaces a function by its adjoint (ir.autodiff.vjp) so pipelines and case files can
differentiate: `vjp{wrt=1}`, `vjp{wrt=0,1}`. With recompute=true (the default) the adjoint
takes the forward inputs and re-emits the forward ops it needs, so it is self-contained; its
parameters are fn's parameters followed by one cotangent per output.
"""
from ..autodiff import vjp as adjoint
from ..function import Function
from . import register_pass


@register_pass("vjp")
def vjp(fn: Function, wrt=None, recompute=True) -> Function:
    if isinstance(wrt, int):
        wrt = [wrt]
    return adjoint(fn, wrt, recompute=recompute)
