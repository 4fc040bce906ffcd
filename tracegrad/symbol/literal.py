"""MXNet's attribute strings ("128", "(3, 3)", "True", "relu", "1e-05") read back into Python
values by a small literal parser: no eval, bounded length and nesting, and the inverse
(`to_attr_string`) that writes values the way MXNet's Python frontend does (str(v))."""
import re

import numpy as np

MAX_ATTR_CHARS = 4096
MAX_TUPLE = 64
_INT = re.compile(r"[+-]?\d+L?\Z")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|nan|infinity)\Z",
                    re.IGNORECASE)
_KEYWORDS = {"True": True, "true": True, "False": False, "false": False, "None": None,
             "none": None}


class LiteralError(ValueError):
    """An attribute string that is not a well-formed literal (the message says why)."""


def _scalar(tok):
    if tok in _KEYWORDS:
        return _KEYWORDS[tok]
    if _INT.match(tok):
        return int(tok.rstrip("L"))
    if _FLOAT.match(tok):
        return float(tok)
    raise LiteralError(f"{tok!r} is not a number, True/False or None")


def parse_literal(text):
    """int, float, bool, None, a tuple of those (from '(..)' or '[..]'), or else the string
    itself (an enum value such as 'relu' or 'float32')."""
    if not isinstance(text, str):
        raise LiteralError(f"attribute values are strings in MXNet's JSON, got "
                           f"{type(text).__name__}")
    if len(text) > MAX_ATTR_CHARS:
        raise LiteralError(f"attribute string of {len(text)} characters is too long")
    s = text.strip()
    if s[:1] and s[0] in "([":      # ("" is in every string: an empty value is a string)
        close = ")" if s[0] == "(" else "]"
        if not s.endswith(close):
            raise LiteralError(f"{text!r}: unbalanced brackets")
        body = s[1:-1].strip()
        if any(c in body for c in "()[]"):
            raise LiteralError(f"{text!r}: nested tuples are not MXNet attributes")
        items = [t.strip() for t in body.split(",")] if body else []
        if items and items[-1] == "":
            items.pop()  # (3,)
        if len(items) > MAX_TUPLE:
            raise LiteralError(f"{text!r}: more than {MAX_TUPLE} entries")
        return tuple(_scalar(t) for t in items)
    try:
        return _scalar(s)
    except LiteralError:
        return text


def to_attr_string(value):
    """A Python attribute value as MXNet's frontend writes it into a node's attrs."""
    if isinstance(value, str):
        return value
    if isinstance(value, (np.dtype, type)) and value is not bool:
        return np.dtype(value).name
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(to_attr_string(v) for v in value) + (
            ",)" if len(value) == 1 else ")")
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        value = value.item()
    return str(value)
