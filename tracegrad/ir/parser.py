"""Text -> Function: reads exactly what printer.py prints (the grammar is in its docstring).

Safe to load: ops are created only by name from the op registry, through `Builder.emit`, so the
parser re-runs every type rule and checks the declared result types against it; nothing is
eval'd. Literals get their dtype by `function.literal_dtype`, the rule `Builder.emit` uses, so
`parse(print(f))` equals `f`. Errors are `ParseError`s with line:col, the source line and a caret.
With `check=False` type rules are skipped and names may be used before their definition, so
malformed functions can be written as text for the verifier's tests. Imports only `ir`.
"""
import re

from .function import Builder, Function, Literal, Operation, Value, canonical_attrs, literal_dtype
from .ops import REGISTRY
from .attrs import MAX_DIM
from .types import DTYPES, TensorType

_MAX_NESTING = 8

_TOKEN = re.compile(r"""
    (?P<ws>\s+) | (?P<comment>//[^\n]*)
  | (?P<value>%[\w.$]+) | (?P<func>@[\w.$]+) | (?P<arrow>->)
  | (?P<number>-?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf\b))
  | (?P<ident>[A-Za-z_]\w*) | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<punct>[(){}\[\],:=])
""", re.VERBOSE)
_WORDS = {"true": True, "false": False, "inf": float("inf"), "nan": float("nan")}


class ParseError(ValueError):
    """A syntax or typing error in IR text, shown as `line:col: message`, the line and a caret."""

    def __init__(self, message, text, pos, width=1, filename=None):
        self.message = message
        start = text.rfind("\n", 0, pos) + 1
        end = text.find("\n", pos)
        self.line, self.col = line_col(text, pos)
        source = text[start:end if end >= 0 else len(text)]
        where = f"{filename}:" if filename else ""
        caret = " " * (pos - start) + "^" + "~" * (max(width, 1) - 1)
        super().__init__(f"{where}{self.line}:{self.col}: {message}\n{source}\n{caret}")


def line_col(text, pos) -> tuple:
    """1-based (line, column) of offset `pos`."""
    return text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)


class Token:
    __slots__ = ("kind", "text", "pos")

    def __init__(self, kind, text, pos):
        self.kind, self.text, self.pos = kind, text, pos

    def __repr__(self):
        return f"<{self.kind} {self.text!r}>"


def tokenize(text, filename=None) -> list:
    """Tokens of `text`, dropping whitespace and `//` comments; ends with an 'eof' token."""
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ParseError(f"unexpected character {text[pos]!r}", text, pos, 1, filename)
        if m.lastgroup not in ("ws", "comment"):
            tokens.append(Token(m.lastgroup, m.group(), pos))
        pos = m.end()
    tokens.append(Token("eof", "", len(text)))
    return tokens


class Parser:
    """Recursive descent over the token list; one instance parses one text."""

    def __init__(self, text, filename=None, check=True):
        self.text, self.filename, self.check = text, filename, check
        self.tokens, self.i = tokenize(text, filename), 0

    # ------------------------------------------------------------ tokens

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, message, tok, width=None):
        width = len(tok.text) if width is None else width
        raise ParseError(message, self.text, tok.pos, width, self.filename)

    def expect(self, text=None, kind=None) -> Token:
        tok = self.next()
        if (text is not None and tok.text != text) or (kind is not None and tok.kind != kind):
            wanted = f"'{text}'" if text is not None else kind
            self.error(f"expected {wanted}, got {tok.text or 'end of input'!r}", tok)
        return tok

    def accept(self, text) -> bool:
        if self.peek().text == text:
            self.i += 1
            return True
        return False

    def separated(self, item) -> list:
        """One or more items separated by ','."""
        out = [item()]
        while self.accept(","):
            out.append(item())
        return out

    def comma_list(self, item, close) -> list:
        """Zero or more items separated by ',' up to the `close` token (consumed)."""
        if self.accept(close):
            return []
        out = self.separated(item)
        self.expect(close)
        return out

    # ------------------------------------------------------------ pieces

    def parse_type(self) -> TensorType:
        tok = self.next()
        if tok.kind != "ident" or tok.text not in DTYPES:
            self.error(f"expected a type such as f32[4,3], got {tok.text!r}", tok)
        self.expect("[")
        dims = self.comma_list(self.parse_dim, "]")
        try:
            return TensorType(tok.text, dims)
        except TypeError as e:
            self.error(str(e), tok)

    def parse_dim(self) -> int:
        tok = self.next()
        if not tok.text.isdigit():
            self.error(f"expected a dimension (a non-negative integer), got {tok.text!r}", tok)
        if len(tok.text) > 13 or int(tok.text) > MAX_DIM:
            self.error(f"dimension {tok.text[:20]} is too large (at most {MAX_DIM})", tok)
        return int(tok.text)

    def parse_attr_value(self, depth=0):
        tok = self.next()
        if tok.text == "[" and tok.kind == "punct":
            if depth >= _MAX_NESTING:
                self.error(f"attribute lists nested more than {_MAX_NESTING} deep", tok)
            return tuple(self.comma_list(lambda: self.parse_attr_value(depth + 1), "]"))
        if tok.kind == "number":
            return self.number(tok)
        if tok.kind == "string":
            return re.sub(r"\\(.)", r"\1", tok.text[1:-1])
        if tok.kind == "ident" and tok.text in _WORDS:
            return _WORDS[tok.text]
        if tok.text == "none":
            return None
        self.error(f"bad attribute value {tok.text!r}", tok)

    def number(self, tok):
        if len(tok.text) > 400:  # beyond any float's digits; int() would refuse past 4300
            self.error(f"number literal of {len(tok.text)} characters", tok, 20)
        return _number(tok.text)

    def parse_attrs(self, opdef, op_tok) -> dict:
        attrs, keys = {}, {}
        if self.accept("{"):
            def item():
                key = self.expect(kind="ident")
                if key.text in keys:
                    self.error(f"{opdef.name}: attribute {key.text!r} given twice", key)
                if key.text not in opdef.defaults and key.text not in opdef.attr_names:
                    known = ", ".join(sorted(set(opdef.defaults) | opdef.attr_names)) or "none"
                    self.error(f"{opdef.name}: unknown attribute {key.text!r} "
                               f"(known: {known})", key)
                self.expect("=")
                keys[key.text] = key
                attrs[key.text] = self.parse_attr_value()
            self.comma_list(item, "}")
        missing = sorted(opdef.attr_names - set(attrs))
        if missing:
            self.error(f"{opdef.name}: missing attribute {missing[0]!r}", op_tok)
        return attrs

    def parse_operand(self):
        """A Value, or a Python scalar (typed later, by the op it meets)."""
        tok = self.next()
        if tok.kind == "value":
            return self.use(tok), tok
        if tok.kind == "number":
            return self.number(tok), tok
        if tok.kind == "ident" and tok.text in _WORDS:
            return _WORDS[tok.text], tok
        self.error(f"expected an operand (%name or literal), got {tok.text!r}", tok)

    # ------------------------------------------------------------ names

    def define(self, tok, value):
        name = tok.text[1:]
        if name in self.names:
            line, col = line_col(self.text, self.names[name][1].pos)
            self.error(f"redefinition of %{name} (first defined at {line}:{col})", tok)
        pending = self.pending.pop(name, None)
        if pending is not None:  # check=False: a forward reference now gets its definition
            placeholder = pending[0]
            placeholder.type, placeholder.producer = value.type, value.producer
            placeholder.index = value.index
            value.producer.results = tuple(placeholder if r is value else r
                                           for r in value.producer.results)
            value = placeholder
        self.names[name] = (value, tok)

    def use(self, tok) -> Value:
        name = tok.text[1:]
        if name in self.names:
            return self.names[name][0]
        if self.check:
            self.error(f"undefined value %{name}", tok)
        if name not in self.pending:
            self.pending[name] = (Value(None), tok)
        return self.pending[name][0]

    # ------------------------------------------------------------ function

    def parse_function(self) -> Function:
        self.names, self.pending = {}, {}
        self.expect("func")
        fname = self.expect(kind="func").text[1:]
        b = Builder(name=fname)
        self.expect("(")

        def param():
            tok = self.expect(kind="value")
            self.expect(":")
            hint = None if tok.text[1:].isdigit() else tok.text[1:]
            self.define(tok, b.param(self.parse_type(), hint))
        self.comma_list(param, ")")
        self.expect("->")
        self.expect("(")
        out_types = self.comma_list(self.parse_type, ")")
        self.expect("{")
        while self.peek().kind == "value":
            self.parse_op(b)
        ret = self.expect("return")
        outs = self.parse_return(ret, out_types)
        self.expect("}")
        if self.pending:
            name, (_, tok) = next(iter(self.pending.items()))
            self.error(f"undefined value %{name}", tok)
        return b.ret(*outs)

    def parse_op(self, b):
        results = self.separated(lambda: self.expect(kind="value"))
        self.expect("=")
        op_tok = self.expect(kind="ident")
        opdef = REGISTRY.get(op_tok.text)
        if opdef is None:
            self.error(f"unknown op {op_tok.text!r}", op_tok)
        operands = []
        if self.peek().text not in ("{", ":"):
            operands = self.separated(self.parse_operand)
        attrs = self.parse_attrs(opdef, op_tok)
        self.expect(":")
        typed = self.separated(lambda: (self.peek(), self.parse_type()))
        type_toks, types = [tok for tok, _ in typed], [t for _, t in typed]
        if len(types) != len(results):
            self.error(f"{opdef.name}: {len(results)} results named, {len(types)} types "
                       f"declared", op_tok)
        values = self.build(b, opdef, op_tok, operands, attrs, types, type_toks)
        for tok, v in zip(results, values):
            self.define(tok, v)

    def build(self, b, opdef, op_tok, operands, attrs, types, type_toks) -> tuple:
        """Emit the op (checked) or construct it with its declared types (check=False)."""
        raw = [v for v, _ in operands]
        if not self.check:
            typed = [o for o in raw if not isinstance(o, Value) or o.type is not None]
            ops = [o if isinstance(o, Value) else self.literal(o, literal_dtype(o, typed), tok)
                   for o, tok in operands]
            op = Operation(opdef, ops, canonical_attrs(opdef, attrs), types)
            b.fn.ops.append(op)
            return op.results
        try:
            out = b.emit(opdef.name, *raw, **attrs)
        except (TypeError, ValueError, KeyError, IndexError, OverflowError) as e:
            # (the type rule said no; OverflowError: an integer literal past its dtype)
            msg = str(e) if str(e).startswith(opdef.name + ":") else f"{opdef.name}: {e}"
            self.error(msg, op_tok)
        out = out if isinstance(out, tuple) else (out,)
        for i, (v, t, tok) in enumerate(zip(out, types, type_toks)):
            if v.type != t:
                operand_types = ", ".join(str(o.type) for o in v.producer.operands)
                self.error(f"{opdef.name}: result {i + 1} declared {t}, but operands "
                           f"({operand_types}) give {v.type}", tok, len(str(t)))
        return out

    def literal(self, value, dtype, tok):
        """Literal(value, dtype), or the error at `tok` (an integer past its dtype)."""
        try:
            return Literal(value, dtype)
        except OverflowError as e:
            self.error(str(e), tok)

    def parse_return(self, ret_tok, out_types) -> list:
        items = []
        if self.peek().text != "}":
            items = self.separated(self.parse_operand)
        if len(items) != len(out_types):
            self.error(f"return: {len(items)} values, but the signature declares "
                       f"{len(out_types)}", ret_tok)
        outs = []
        for i, ((v, tok), t) in enumerate(zip(items, out_types)):
            if not isinstance(v, Value):
                v = self.literal(v, t.dtype, tok)  # a returned literal takes the declared type
            if self.check and v.type != t:
                self.error(f"return: value {i + 1} has type {v.type}, but the signature declares "
                           f"{t}", tok)
            outs.append(v)
        return outs


def _number(text):
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return float(text)


def parse_module(text: str, filename=None, check=True) -> list:
    """All functions in `text`, in order."""
    p = Parser(text, filename, check)
    fns = []
    while p.peek().kind != "eof":
        fns.append(p.parse_function())
    return fns


def parse(text: str, filename=None, check=True) -> Function:
    """The single function in `text`. With check=False, type rules and def-before-use are left
    to the verifier (for writing invalid IR in tests)."""
    p = Parser(text, filename, check)
    fn = p.parse_function()
    if p.peek().kind != "eof":
        p.error("expected end of input after the function (use parse_module for several)",
                p.peek())
    return fn
