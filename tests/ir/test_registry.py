"""The registry stays complete: every primitive carries the rules its traits promise."""
import inspect

import pytest

from tracegrad.ir import Builder
from tracegrad.ir.ops import ELEMENTWISE, NONDIFF, REGISTRY, OpDef

OPS = sorted(REGISTRY)


@pytest.mark.parametrize("name", OPS)
def test_has_infer_and_impl(name):
    op = REGISTRY[name]
    assert callable(getattr(op, "infer", None)), f"{name} has no infer"
    assert callable(getattr(op, "impl", None)), f"{name} has no impl"


@pytest.mark.parametrize("name", OPS)
def test_vjp_or_nondiff(name):
    """Exactly one of the two: a NONDIFF op with a vjp would be skipped by activity analysis."""
    op = REGISTRY[name]
    has_vjp = callable(getattr(op, "vjp", None))
    assert has_vjp != op.has(NONDIFF), f"{name}: vjp={has_vjp}, NONDIFF={op.has(NONDIFF)}"


@pytest.mark.parametrize("name", OPS)
def test_nondiff_ops_say_why(name):
    op = REGISTRY[name]
    if op.has(NONDIFF):
        assert op.__doc__ and op.__doc__.strip(), f"{name} is NONDIFF without a docstring"


@pytest.mark.parametrize("name", OPS)
def test_elementwise_implies_scalar(name):
    op = REGISTRY[name]
    if op.has(ELEMENTWISE):
        assert callable(getattr(op, "scalar", None)), f"{name} is ELEMENTWISE but has no scalar"


@pytest.mark.parametrize("name", OPS)
def test_registered_under_its_own_name_with_builder_method(name):
    op = REGISTRY[name]
    assert issubclass(op, OpDef) and op.name == name
    assert callable(getattr(Builder, name))


def test_names_unique_and_duplicates_rejected():
    assert len({op.name for op in REGISTRY.values()}) == len(REGISTRY)
    assert len(set(REGISTRY.values())) == len(REGISTRY)
    with pytest.raises(ValueError, match="registered twice"):
        type("Dup", (OpDef,), {"name": "add"})
    assert REGISTRY["add"].__name__ == "Add"


@pytest.mark.parametrize("name", OPS)
def test_rules_are_static(name):
    """Rules are plain functions on the class (no self), so `Op.impl(x)` works unbound."""
    op = REGISTRY[name]
    for rule in ("infer", "impl", "vjp", "scalar"):
        if hasattr(op, rule):
            assert isinstance(inspect.getattr_static(op, rule), staticmethod), (name, rule)


@pytest.mark.parametrize("name", OPS)
def test_traits_imply_their_rules(name):
    from tracegrad.ir.ops import INDEXED, REDUCTION, VIEW
    op = REGISTRY[name]
    if op.has(VIEW):
        assert callable(getattr(op, "view", None)), f"{name} is VIEW but has no view rule"
    if op.has(INDEXED):
        assert callable(getattr(op, "element", None)), f"{name} is INDEXED but has no element"
    if op.has(REDUCTION):
        assert op.accumulate in ("add", "mul", "max", "min"), f"{name}: {op.accumulate!r}"
