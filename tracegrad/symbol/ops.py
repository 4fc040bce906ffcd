"""What the symbolic API knows of each MXNet operator: the nd function that computes it, the
names of its array inputs (and which are auxiliary states), its outputs, the shapes of the
arguments it creates itself (`fc1_weight`, `bn_moving_mean`), and the types and ranges of its
attributes, so a graph read from a file is checked before anything runs.

Every nd operator is reachable under its MXNet name (`mx.sym.X` records a node whose op is
nd.X); the table below adds what a signature cannot say. Attribute values arrive as strings
(MXNet's JSON) and are read by symbol/literal.py, then checked by the op's spec.
"""
import inspect
import math

import numpy as np

from .. import nd
from ..base import MXNetError
from ..util import is_np_shape
from .literal import LiteralError, parse_literal

INT_MAX = 2 ** 31 - 1
MAX_ELEMENTS = 2 ** 40   # a shape past this is not a real model's (and is never allocated)


# ------------------------------------------------------------------ attribute specs
class AttrError(ValueError):
    pass


def _int(lo=None, hi=INT_MAX):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int):
            raise AttrError(f"expected an integer, got {v!r}")
        if (lo is not None and v < lo) or v > hi or v < -INT_MAX:
            raise AttrError(f"{v} is out of range [{lo if lo is not None else -INT_MAX}, {hi}]")
        return v
    check.type_text = "int" if lo is None or lo < 0 else "int (non-negative)"
    return check


def _float(lo=-math.inf, hi=math.inf, lo_open=False, hi_open=False):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise AttrError(f"expected a number, got {v!r}")
        v = float(v)
        if not (lo < v if lo_open else lo <= v) or not (v < hi if hi_open else v <= hi):
            raise AttrError(f"{v} is out of range {'(' if lo_open else '['}{lo}, {hi}"
                            f"{')' if hi_open else ']'}")
        return v
    check.type_text = "float"
    return check


def _bool(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    raise AttrError(f"expected True or False, got {v!r}")


_bool.type_text = "boolean"


def _shape(min_len=0, max_len=8, lo=0, allow_negative_codes=False):
    def check(v):
        if isinstance(v, int) and not isinstance(v, bool):
            v = (v,)
        if not isinstance(v, tuple) or not all(isinstance(d, int) and not isinstance(d, bool)
                                               for d in v):
            raise AttrError(f"expected a tuple of integers, got {v!r}")
        if not min_len <= len(v) <= max_len:
            raise AttrError(f"expected {min_len}..{max_len} entries, got {len(v)}")
        for d in v:
            if d > INT_MAX or d < (-4 if allow_negative_codes else lo):
                raise AttrError(f"entry {d} is out of range")
        return v
    check.type_text = "Shape(tuple)"
    return check


def _enum(*choices):
    def check(v):
        if v not in choices:
            raise AttrError(f"expected one of {list(choices)}, got {v!r}")
        return v
    check.choices = choices
    # (MXNet's dmlc enum lists its choices sorted)
    check.type_text = "{" + ", ".join(repr(c) for c in sorted(choices, key=str)) + "}"
    return check


def _dtype(v):
    try:
        return np.dtype(v).name
    except TypeError:
        raise AttrError(f"{v!r} is not a dtype") from None


_dtype.type_text = "dtype"


def _opt(spec):
    def check(v):
        return None if v is None else spec(v)
    inner = getattr(spec, "type_text", None)
    if inner is not None:
        check.type_text = "{None, " + inner[1:] if getattr(spec, "choices", None) \
            else inner + " or None"
    return check


def _any(v):
    return v


def _str(v):
    if not isinstance(v, str):
        raise AttrError(f"expected a string, got {v!r}")
    return v


_str.type_text = "string"


def _axis(v):
    if isinstance(v, bool) or not isinstance(v, int) or abs(v) > 32:
        raise AttrError(f"expected an axis (an integer), got {v!r}")
    return v


_axis.type_text = "int"


def _axes(v):
    if v is None or v == ():
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return _axis(v)
    if isinstance(v, tuple) and all(isinstance(a, int) and not isinstance(a, bool)
                                    and abs(a) <= 32 for a in v):
        return v
    raise AttrError(f"expected an axis or a tuple of axes, got {v!r}")


_axes.type_text = "Shape or None"


def _HINT(v):
    """A performance hint: accepted, no effect on the values (never passed to the op)."""
    return v


_OP_HINTS = ("forward_stype", "sparse_grad", "lazy_update", "stype")
_HINTS = {"workspace": _HINT, "cudnn_off": _HINT, "cudnn_tune": _HINT, "layout": _HINT}
_KERNEL = _shape(1, 3, 1)
_STRIDE = _shape(0, 3, 1)
_PAD = _shape(0, 3, 0)
_LAYOUT = _opt(_enum("NCW", "NCHW", "NCDHW", "NWC", "NHWC", "NDHWC"))
_CONV = dict(kernel=_KERNEL, stride=_STRIDE, dilate=_STRIDE, pad=_PAD,
             num_filter=_int(1), num_group=_int(1), no_bias=_bool,
             workspace=_HINT, cudnn_off=_HINT, cudnn_tune=_HINT, layout=_LAYOUT)

# ------------------------------------------------------------------ parameter shape rules


def _fc_shapes(d, a):
    n = a.get("num_hidden")
    k = (int(np.prod(d[1:])) if a.get("flatten", True) else d[-1])
    return {"weight": (n, k), "bias": (n,)}


def _channels(d, a, key="layout"):
    return d[1] if len(d) > 1 else None


def _channel_last(a):
    return a.get("layout") in ("NWC", "NHWC", "NDHWC")


def _conv_shapes(d, a):
    k, g = tuple(a["kernel"]), a.get("num_group", 1) or 1
    if _channel_last(a):   # weight (num_filter, *kernel, C / group)
        return {"weight": (a["num_filter"],) + k + (d[-1] // g,), "bias": (a["num_filter"],)}
    return {"weight": (a["num_filter"], d[1] // g) + k, "bias": (a["num_filter"],)}


def _deformable_shapes(d, a):
    """Weight and bias as a convolution's; offset (and the modulated form's mask): a field
    per deformable group and tap at every output position."""
    from ..ir.convolution import conv_out_sizes
    out = _conv_shapes(d, a)
    kernel = tuple(a["kernel"])
    spatial = conv_out_sizes(d[2:], kernel, tuple(a.get("stride") or (1, 1)),
                             tuple(a.get("dilate") or (1, 1)), tuple(a.get("pad") or (0, 0)))
    taps = a.get("num_deformable_group", 1) * kernel[0] * kernel[1]
    out["offset"] = (d[0], 2 * taps) + spatial
    out["mask"] = (d[0], taps) + spatial
    return out


def _deconv_shapes(d, a):
    k, g = tuple(a["kernel"]), a.get("num_group", 1) or 1
    if _channel_last(a):
        return {"weight": (d[-1],) + k + (a["num_filter"] // g,), "bias": (a["num_filter"],)}
    return {"weight": (d[1], a["num_filter"] // g) + k, "bias": (a["num_filter"],)}


def _upsampling_shapes(d, a):
    """Bilinear: a depthwise (channels, 1, k, k) weight, k = 2 * scale - scale % 2."""
    if a.get("sample_type") != "bilinear":
        return {}
    k = 2 * a["scale"] - a["scale"] % 2
    return {"arg1": (d[1], 1, k, k)}


def _bn_shapes(d, a):
    axis = a.get("axis", 1)
    c = (d[axis],)
    return dict(gamma=c, beta=c, moving_mean=c, moving_var=c)


def _ln_shapes(d, a):
    c = (d[a.get("axis", -1)],)
    return dict(gamma=c, beta=c)


def _in_shapes(d, a):
    return dict(gamma=(d[1],), beta=(d[1],))


def _rnn_shapes(d, a):
    gates = {"lstm": 4, "gru": 3, "rnn_relu": 1, "rnn_tanh": 1}[a.get("mode", "lstm")]
    h, layers = a["state_size"], a.get("num_layers", 1)
    p = a.get("projection_size") or 0       # (LSTMP: h2r weights, states of p features)
    r = p or h
    dirs = 2 if a.get("bidirectional", False) else 1
    size = 0
    for layer in range(layers):
        inp = d[2] if layer == 0 else r * dirs
        size += dirs * (gates * h * (inp + r) + 2 * gates * h + p * h)
    return dict(parameters=(size,), state=(layers * dirs, d[1], r),
                state_cell=(layers * dirs, d[1], h))


def _softmax_label(d, a):
    """MXNet's SoftmaxOutput label shape: (n, prod(spatial)) for multi_output, else the data's
    shape without its last axis."""
    if a.get("multi_output", False):
        return {"label": (d[0], int(np.prod(d[2:])) if len(d) > 2 else 1)}
    return {"label": tuple(d[:-1])}


def _same_label(d, a):
    """MXNet's regression outputs: a (n,) label for (n, 1) data, else the data's shape."""
    if len(d) == 2 and d[1] == 1:
        return {"label": (d[0],)}
    return {"label": tuple(d)}


def _embedding_shapes(d, a):
    return {"weight": (a["input_dim"], a["output_dim"])}


def _prelu_shapes(d, a):
    return {"gamma": (d[1] if len(d) > 1 else 1,)}


class OpSpec:
    """One MXNet operator as the symbolic API sees it."""

    def __init__(self, name, fn, inputs, attrs=None, aux=(), shapes=None, active=None,
                 outputs=None, variadic=False, head_loss=False, stypes=None, input_inits=None):
        self.name, self.fn = name, fn
        self.inputs = tuple(inputs)        # array input names, in order
        self.attrs = attrs                 # {name: check} or None: from the signature
        self.aux = frozenset(aux)
        self.shapes = shapes               # (data shape, attrs) -> {input name: shape}
        self._active = active              # attrs -> the input names this node takes
        self._outputs = outputs            # attrs -> (total count, visible output names)
        self.variadic = variadic           # inputs are *data (Concat, add_n, ...)
        self.head_loss = head_loss         # a loss head: its head gradient is ignored
        self.stypes = stypes               # (attrs, input stypes) -> output stypes, or None
        # input name -> the initializer a variable composed there gets unless it has one
        # (MXNet's FSetInputVarAttrOnCompose: PReLU's slope 0.25, BatchNorm's statistics)
        self.input_inits = input_inits or {}
        # attributes MXNet declares without a default (its parser refuses a node lacking
        # one): the explicit schemas' in _REQUIRED, a signature's parameters without default
        self.required = _REQUIRED.get(name, ())

    def active_inputs(self, attrs):
        return list(self._active(attrs)) if self._active else list(self.inputs)

    def for_attrs(self, params, where=""):
        """The spec of a node with these checked attributes: itself, unless the op's inputs
        and outputs depend on them (Custom: its op_type's CustomOpProp lists them)."""
        return self

    def outputs(self, attrs):
        """(all outputs, names of the visible ones): node_row_ptr counts all."""
        if self._outputs is None:
            return 1, ["output"]
        return self._outputs(attrs)

    def check_attrs(self, raw, where):
        """{name: parsed, checked value} from the node's {name: string}; MXNetError names the
        node, the op and the attribute on anything malformed."""
        schema = self.attrs if self.attrs is not None else signature_attrs(self)
        out = parse_attrs(raw, where, self.name, schema.get, sorted(schema))
        required = self.required if self.attrs is not None else signature_required(self)
        missing = [r for r in required if r not in out]
        if missing:
            raise MXNetError(f"{where}: op {self.name} needs the attribute(s) "
                             f"{', '.join(missing)} (MXNet declares no default for them)")
        return out


def parse_attrs(raw, where, op, check_for, known, parse=parse_literal,
                skip=("ctx_group", "lr_mult", "wd_mult", "name"), label=""):
    """{name: parsed, checked value} of a node's {name: string}: `check_for(name)` gives the
    check (None: the op has no such attribute; _HINT: a performance hint, kept in the node's
    attrs but not passed on); hidden (`__x__`) and scope attributes (`skip`) are the node's,
    not the op's. MXNetError names the node, the op (`label`: what it is, for an unknown
    attribute) and the attribute."""
    out = {}
    for key, text in raw.items():
        if key.startswith("__") and key.endswith("__") or key in skip:
            continue
        check = check_for(key)
        if check is _HINT:
            continue
        if check is None:
            raise MXNetError(f"{where}: op {op}{label} has no attribute {key!r} (it takes "
                             f"{known})")
        try:
            out[key] = check(parse(text))
        except (AttrError, LiteralError) as e:
            raise MXNetError(f"{where}: op {op}, attribute {key}={text!r}: {e}") from None
    return out


def _sig_default_check(default):
    if isinstance(default, bool):
        return _bool
    if isinstance(default, int):
        return _int(None)
    if isinstance(default, float):
        return _float()
    if isinstance(default, str):
        return _str
    if isinstance(default, tuple):
        return _any
    return _any


_ARRAY_NAMES = {"data", "lhs", "rhs", "weight", "bias", "gamma", "beta", "moving_mean",
                "moving_var", "label", "indices", "a", "index", "condition", "x", "y",
                "sequence_length", "parameters", "state", "state_cell", "rois", "grid", "loc",
                "A", "B", "C", "lengths", "mask", "length", "shape_like", "ary",
                "old_tensor", "index_vector", "new_tensor",
                # nd.contrib's attention kernels
                "queries_keys_values", "attention", "queries", "keys_values"}
_SIG_CACHE: dict = {}


def signature_attrs(spec):
    """{attribute: check} from the nd function's signature (defaults give the types)."""
    got = _SIG_CACHE.get(spec.name)
    if got is None:
        got = {}
        for p in inspect.signature(spec.fn).parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in spec.inputs:
                continue
            if p.name in ("out", "name", "ctx"):
                continue
            # None too: MXNet's "None" of an optional attribute (sort's axis)
            got[p.name] = (_any if p.default is p.empty or p.default is None
                           else _opt(_sig_default_check(p.default)))
        for h in tuple(_HINTS) + _OP_HINTS:   # (an op's own parameter of that name stays)
            got.setdefault(h, _HINT)
        got.setdefault("num_args", _int(0))
        _SIG_CACHE[spec.name] = got
    return got


def signature_required(spec):
    """The nd function's parameters that are neither inputs nor given a default."""
    got = _REQUIRED_CACHE.get(spec.name)
    if got is None:
        try:
            params = inspect.signature(spec.fn).parameters.values()
        except (TypeError, ValueError):
            params = ()
        got = _REQUIRED_CACHE[spec.name] = tuple(
            p.name for p in params if p.default is p.empty and p.name not in spec.inputs
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            and p.name not in ("out", "name", "ctx"))
    return got


_REQUIRED_CACHE: dict = {}
# (MXNet's DMLC_DECLARE_FIELDs without set_default, of the ops given an explicit schema)
_REQUIRED = {"FullyConnected": ("num_hidden",), "Convolution": ("kernel", "num_filter"),
             "Deconvolution": ("kernel", "num_filter"), "Activation": ("act_type",),
             "Embedding": ("input_dim", "output_dim"),
             "_contrib_SparseEmbedding": ("input_dim", "output_dim"), "Cast": ("dtype",),
             "RNN": ("state_size", "num_layers", "mode")}


def _parameters(spec):
    got = _PARAMS.get(spec.name)
    if got is None:
        try:
            ps = [p for p in inspect.signature(spec.fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        except (TypeError, ValueError):
            ps = []
        got = _PARAMS[spec.name] = ([p.name for p in ps],
                                    {p.name: None if p.default is p.empty else p.default
                                     for p in ps})
    return got


_PARAMS: dict = {}


def parameter_names(spec):
    """The nd function's positional parameters in order: its inputs, then the attributes
    MXNet's generated functions also take positionally."""
    return _parameters(spec)[0]


def default_of(spec, name):
    """The nd function's default for parameter `name` (None when it has none)."""
    return _parameters(spec)[1].get(name)


def _signature_inputs(fn):
    names, variadic = [], False
    for p in inspect.signature(fn).parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            variadic = True
        elif p.name in _ARRAY_NAMES and p.kind != p.KEYWORD_ONLY and \
                not isinstance(p.default, (int, float)):   # LRN's beta, quadratic's a: numbers
            names.append(p.name)
    return names, variadic


def _proposal_shapes(d, a):
    """(Multi)Proposal's InferShape: bbox_pred and im_info from cls_prob's shape."""
    return {"bbox_pred": (d[0], d[1] * 2) + tuple(d[2:]), "im_info": (d[0], 3)}


def _proposal_outputs(a):
    return 2, (["output", "score"] if a.get("output_score") else ["output"])


def _multi(names):
    return lambda a: (len(names), list(names))


def _norm_outputs(a):
    return 3, (["output", "mean", "var"] if a.get("output_mean_var") else ["output"])


def _ln_outputs(a):
    return 3, (["output", "mean", "std"] if a.get("output_mean_var") else ["output"])


def _slice_outputs(a):
    n = a.get("num_outputs", 1)
    return n, [f"output{i}" for i in range(n)]


def _split_v2_outputs(a):
    parts = a.get("indices_or_sections", 1)
    n = len(parts) + 1 if isinstance(parts, (tuple, list)) else parts
    return n, [f"output{i}" for i in range(n)]


def _rnn_outputs(a):
    if not a.get("state_outputs", False):
        return 1, ["output"]
    names = ["output", "state"] + (["state_cell"] if a.get("mode", "lstm") == "lstm" else [])
    return len(names), names


def _topk_outputs(a):
    if a.get("ret_typ", "indices") == "both":
        return 2, ["output0", "output1"]
    return 1, ["output"]


def _without(name, flag, when=True):
    return lambda inputs: (lambda a: [i for i in inputs
                                      if i != name or bool(a.get(flag, not when)) != when])


_ACTS = ("relu", "sigmoid", "tanh", "softrelu", "softsign")
_LOSS_COMMON = dict(grad_scale=_float())


def _table():
    fc_active = _without("bias", "no_bias")(("data", "weight", "bias"))
    rnn_in = ("data", "parameters", "state", "state_cell", "sequence_length")

    def rnn_active(a):
        names = ["data", "parameters", "state"]
        if a.get("mode", "lstm") == "lstm":
            names.append("state_cell")
        if a.get("use_sequence_length", False):
            names.append("sequence_length")
        return names

    def deconv_active(a):
        return ["data", "weight"] + ([] if a.get("no_bias", True) else ["bias"])

    softmax_attrs = dict(grad_scale=_float(), ignore_label=_float(), multi_output=_bool,
                         use_ignore=_bool, preserve_shape=_bool,
                         normalization=_enum("null", "batch", "valid"), out_grad=_bool,
                         smooth_alpha=_float(0, 1))
    specs = [
        OpSpec("FullyConnected", nd.FullyConnected, ("data", "weight", "bias"),
               dict(num_hidden=_int(1), no_bias=_bool, flatten=_bool), shapes=_fc_shapes,
               active=fc_active),
        OpSpec("Convolution", nd.Convolution, ("data", "weight", "bias"), dict(_CONV),
               shapes=_conv_shapes, active=fc_active),
        OpSpec("Deconvolution", nd.Deconvolution, ("data", "weight", "bias"),
               dict(_CONV, adj=_PAD, target_shape=_PAD), shapes=_deconv_shapes,
               active=deconv_active),
        *(OpSpec(name, fn, ("data", "gamma", "beta", "moving_mean", "moving_var"),
                 dict(eps=_float(0, lo_open=False), momentum=_float(0, 1), fix_gamma=_bool,
                      use_global_stats=_bool, output_mean_var=_bool, **extra),
                 aux=("moving_mean", "moving_var"), shapes=_bn_shapes, outputs=_norm_outputs,
                 input_inits={"moving_mean": '["zero", {}]', "moving_var": '["one", {}]'})
          for name, fn, extra in (
              ("BatchNorm", nd.BatchNorm, dict(axis=_axis, cudnn_off=_HINT,
                                               min_calib_range=_any, max_calib_range=_any)),
              ("BatchNorm_v1", nd.BatchNorm_v1, {}),
              ("_contrib_SyncBatchNorm", nd.contrib.SyncBatchNorm,
               dict(ndev=_int(1), key=_any)))),
        OpSpec("LayerNorm", nd.LayerNorm, ("data", "gamma", "beta"),
               dict(axis=_axis, eps=_float(0), output_mean_var=_bool), shapes=_ln_shapes,
               outputs=_ln_outputs),
        OpSpec("InstanceNorm", nd.InstanceNorm, ("data", "gamma", "beta"),
               dict(eps=_float(0)), shapes=_in_shapes),
        OpSpec("GroupNorm", nd.GroupNorm, ("data", "gamma", "beta"),
               dict(num_groups=_int(1), eps=_float(0), output_mean_var=_bool),
               shapes=_in_shapes, outputs=_ln_outputs),
        OpSpec("Embedding", nd.Embedding, ("data", "weight"),
               dict(input_dim=_int(1), output_dim=_int(1), dtype=_dtype, sparse_grad=_bool),
               shapes=_embedding_shapes),
        OpSpec("_contrib_SparseEmbedding", nd.contrib.SparseEmbedding, ("data", "weight"),
               dict(input_dim=_int(1), output_dim=_int(1), dtype=_dtype, deterministic=_bool),
               shapes=_embedding_shapes),
        OpSpec("Activation", nd.Activation, ("data",), dict(act_type=_enum(*_ACTS))),
        OpSpec("LeakyReLU", nd.LeakyReLU, ("data", "gamma"),
               dict(act_type=_enum("leaky", "prelu", "elu", "selu", "gelu", "rrelu"),
                    slope=_float(), lower_bound=_float(), upper_bound=_float()),
               shapes=_prelu_shapes, input_inits={"gamma": '["Constant", {"value": 0.25}]'},
               active=lambda a: ["data", "gamma"] if a.get("act_type") == "prelu"
               else ["data"]),
        OpSpec("Pooling", nd.Pooling, ("data",),
               dict(kernel=_shape(0, 3, 1), pool_type=_enum("max", "avg", "sum", "lp"),
                    global_pool=_bool, pooling_convention=_enum("valid", "full", "same"),
                    stride=_STRIDE, pad=_PAD, p_value=_opt(_int(1)),
                    count_include_pad=_opt(_bool), workspace=_HINT, cudnn_off=_HINT,
                    cudnn_tune=_HINT, layout=_LAYOUT)),
        OpSpec("Dropout", nd.Dropout, ("data",),
               dict(p=_float(0, 1), mode=_enum("training", "always"), axes=_shape(0, 8),
                    cudnn_off=_HINT), outputs=lambda a: (2, ["output"])),
        OpSpec("Flatten", nd.Flatten, ("data",), {}),
        OpSpec("CTCLoss", nd.CTCLoss, ("data", "label", "data_lengths", "label_lengths"),
               dict(use_data_lengths=_bool, use_label_lengths=_bool,
                    blank_label=_enum("first", "last")),
               active=lambda a: ["data", "label"]
               + (["data_lengths"] if a.get("use_data_lengths") else [])
               + (["label_lengths"] if a.get("use_label_lengths") else []),
               outputs=lambda a: (2, ["output"])),   # (and the gradient, hidden)
        OpSpec("RNN", nd.RNN, rnn_in,
               dict(state_size=_int(1), num_layers=_int(1, 64), bidirectional=_bool,
                    mode=_enum("lstm", "gru", "rnn_relu", "rnn_tanh"), p=_float(0, 1),
                    state_outputs=_bool, projection_size=_opt(_int(1)),
                    lstm_state_clip_min=_opt(_float()), lstm_state_clip_max=_opt(_float()),
                    lstm_state_clip_nan=_bool, use_sequence_length=_bool, **_HINTS),
               shapes=_rnn_shapes, active=rnn_active, outputs=_rnn_outputs),
        OpSpec("split_v2", nd.split_v2, ("ary",), outputs=_split_v2_outputs),
        # 4 outputs (the LU factors kept for the gradient), sign and log|det| visible
        OpSpec("_linalg_slogdet", nd.linalg.slogdet, ("A",),
               outputs=lambda a: (4, ["output0", "output1"])),
        OpSpec("SliceChannel", nd.SliceChannel, ("data",),
               dict(num_outputs=_int(1, 4096), axis=_axis, squeeze_axis=_bool),
               outputs=_slice_outputs),
        # AMP's widest-type cast: output i is input i in the widest float type of them all
        OpSpec("amp_multicast", nd.amp_multicast, (),
               dict(num_outputs=_int(1), cast_narrow=_bool),
               outputs=lambda a: (a.get("num_outputs", 1),
                                  ["output"] if a.get("num_outputs", 1) == 1 else
                                  [f"output{i}" for i in range(a.get("num_outputs", 1))]),
               variadic=True),
        OpSpec("topk", nd.topk, ("data",), dict(axis=_opt(_axis), k=_int(0),
                                                ret_typ=_enum("value", "indices", "mask",
                                                              "both"),
                                                is_ascend=_bool, dtype=_dtype),
               outputs=_topk_outputs),
        OpSpec("moments", nd.moments, ("data",), dict(axes=_axes, keepdims=_bool),
               outputs=_multi(["output0", "output1"])),
        OpSpec("_linalg_syevd", nd.linalg.syevd, ("A",),
               outputs=_multi(["output0", "output1"])),
        OpSpec("_linalg_gelqf", nd.linalg.gelqf, ("A",),
               outputs=_multi(["output0", "output1"])),
        # (their `beta` / `loc` are numbers, not BatchNorm's beta or a sampler's loc input)
        OpSpec("random_gamma", nd.random_gamma, ()),
        OpSpec("random_normal", nd.random_normal, ()),
        OpSpec("normal", nd.random_normal, ()),
        OpSpec("_contrib_box_encode", nd.contrib.box_encode,
               ("samples", "matches", "anchors", "refs", "means", "stds"), {},
               outputs=_multi(["output0", "output1"])),
        OpSpec("_contrib_box_decode", nd.contrib.box_decode, ("data", "anchors")),
        *(OpSpec(name, fn, ("data", "min_range", "max_range"), dict(out_type=_enum(*types)),
                 outputs=outs)
          for name, fn, types, outs in (
              ("_contrib_quantize", nd.contrib.quantize, ("int8", "uint8"),
               _multi(["output0", "output1", "output2"])),
              ("_contrib_dequantize", nd.contrib.dequantize, ("float32",), None))),
        # (MXNet's Correlation has 3 outputs, its padded inputs hidden)
        OpSpec("Correlation", nd.Correlation, ("data1", "data2"),
               dict(kernel_size=_int(1), max_displacement=_int(0), stride1=_int(1),
                    stride2=_int(1), pad_size=_int(0), is_multiply=_bool),
               outputs=lambda a: (3, ["output"])),
        # (its second input only in mode 'like', as MXNet's FListInputNames)
        OpSpec("_contrib_BilinearResize2D", nd.contrib.BilinearResize2D, ("data", "like"),
               active=lambda a: ["data", "like"] if a.get("mode") == "like" else ["data"]),
        OpSpec("_image_crop", nd.image.crop, ("data",)),     # (its x and y are numbers)
        OpSpec("_contrib_hawkesll", nd.contrib.hawkesll,
               ("lda", "alpha", "beta", "state", "lags", "marks", "valid_length", "max_time"),
               {}, outputs=_multi(["output", "out_state"])),
        OpSpec("_contrib_allclose", nd.contrib.allclose, ("a", "b"),
               dict(rtol=_float(), atol=_float(), equal_nan=_bool)),
        OpSpec("_contrib_bipartite_matching", nd.contrib.bipartite_matching, ("data",),
               dict(is_ascend=_bool, threshold=_float(), topk=_int(-1)),
               outputs=_multi(["output0", "output1"])),
        OpSpec("_contrib_MultiBoxTarget", nd.contrib.MultiBoxTarget,
               ("anchor", "label", "cls_pred"),
               outputs=_multi(["loc_target", "loc_mask", "cls_target"])),
        OpSpec("_contrib_MultiBoxDetection", nd.contrib.MultiBoxDetection,
               ("cls_prob", "loc_pred", "anchor")),
        OpSpec("_contrib_Proposal", nd.contrib.Proposal, ("cls_prob", "bbox_pred", "im_info"),
               shapes=_proposal_shapes, outputs=_proposal_outputs),
        OpSpec("_contrib_MultiProposal", nd.contrib.MultiProposal,
               ("cls_prob", "bbox_pred", "im_info"), shapes=_proposal_shapes,
               outputs=_proposal_outputs),
        OpSpec("SoftmaxOutput", nd.SoftmaxOutput, ("data", "label"), softmax_attrs,
               shapes=_softmax_label, head_loss=True),
        OpSpec("LinearRegressionOutput", nd.LinearRegressionOutput, ("data", "label"),
               dict(_LOSS_COMMON), shapes=_same_label, head_loss=True),
        OpSpec("LogisticRegressionOutput", nd.LogisticRegressionOutput, ("data", "label"),
               dict(_LOSS_COMMON), shapes=_same_label, head_loss=True),
        OpSpec("MAERegressionOutput", nd.MAERegressionOutput, ("data", "label"),
               dict(_LOSS_COMMON), shapes=_same_label, head_loss=True),
        OpSpec("SVMOutput", nd.SVMOutput, ("data", "label"),
               dict(margin=_float(), regularization_coefficient=_float(), use_linear=_bool),
               shapes=_softmax_label, head_loss=True),
        OpSpec("MakeLoss", nd.MakeLoss, ("data",),
               dict(grad_scale=_float(), valid_thresh=_float(),
                    normalization=_enum("null", "batch", "valid")), head_loss=True),
        OpSpec("make_loss", nd.make_loss, ("data",), {}, head_loss=True),
        OpSpec("BlockGrad", nd.BlockGrad, ("data",), {}),
        OpSpec("Concat", nd.Concat, (), dict(dim=_axis, num_args=_int(1)), variadic=True),
        # what Gluon's RNN layers record to join their flattened weights for the RNN op
        OpSpec("_rnn_param_concat", nd.Concat, (), dict(dim=_axis, num_args=_int(1)),
               variadic=True),
        OpSpec("add_n", nd.add_n, (), dict(num_args=_int(1)), variadic=True),
        OpSpec("stack", nd.stack, (), dict(axis=_axis, num_args=_int(1)), variadic=True),
        OpSpec("Reshape", nd.Reshape, ("data",),
               dict(shape=_shape(0, 32, allow_negative_codes=True), reverse=_bool,
                    target_shape=_shape(0, 32), keep_highest=_bool)),
        OpSpec("Cast", nd.Cast, ("data",), dict(dtype=_dtype)),
        OpSpec("softmax", nd.softmax, ("data", "length"),
               dict(axis=_axis, temperature=_opt(_float()), dtype=_opt(_dtype),
                    use_length=_opt(_bool)),
               active=lambda a: ["data", "length"] if a.get("use_length") else ["data"]),
        OpSpec("log_softmax", nd.log_softmax, ("data",),
               dict(axis=_axis, temperature=_opt(_float()), dtype=_opt(_dtype),
                    use_length=_opt(_bool))),
    ]
    # histogram: bins an int (an attribute, with range) or the edges as a second input
    specs.append(OpSpec("histogram", nd.histogram, ("a", "bins"),
                        dict(bins=_int(1), range=_opt(_any)),
                        active=lambda a: ["a"] if "bins" in a else ["a", "bins"],
                        outputs=_multi(("output", "bin_edges"))))
    deformable = dict(_CONV, num_deformable_group=_int(1), im2col_step=_HINT)
    specs.append(OpSpec("_contrib_DeformableConvolution", nd.contrib.DeformableConvolution,
                        ("data", "offset", "weight", "bias"), deformable,
                        shapes=_deformable_shapes,
                        active=_without("bias", "no_bias")(("data", "offset", "weight",
                                                            "bias"))))
    specs.append(OpSpec("_contrib_ModulatedDeformableConvolution",
                        nd.contrib.ModulatedDeformableConvolution,
                        ("data", "offset", "mask", "weight", "bias"), deformable,
                        shapes=_deformable_shapes,
                        active=_without("bias", "no_bias")(("data", "offset", "mask", "weight",
                                                            "bias"))))
    # UpSampling (variadic): bilinear sizes its weight from the data, as MXNet's
    # UpSamplingShape does
    specs.append(OpSpec("UpSampling", nd.UpSampling, *_signature_inputs(nd.UpSampling)[:1],
                        variadic=True, shapes=_upsampling_shapes))
    # densities of samples (random_pdf.py), MXNet's canonical names _random_pdf_<distr>
    for distr, params in _DIST_PARAMS.items():
        specs.append(OpSpec(f"_random_pdf_{distr}", getattr(nd, f"random_pdf_{distr}"),
                            ("sample",) + params, dict(is_log=_bool)))
    # per-row samplers (nd.sample_<distr>): their parameter arrays, MXNet's names (no
    # dirichlet sampler: only its density)
    for distr, params in _DIST_PARAMS.items():
        if distr == "dirichlet":
            continue
        specs.append(OpSpec(f"sample_{distr}", getattr(nd, f"sample_{distr}"), params,
                            dict(shape=_opt(_shape(0, 8, allow_negative_codes=False)),
                                 dtype=_opt(_dtype))))
    return {s.name: s for s in specs}


# each distribution's parameters, as MXNet names them (densities and per-row samplers)
_DIST_PARAMS = {"uniform": ("low", "high"), "normal": ("mu", "sigma"),
                "gamma": ("alpha", "beta"), "exponential": ("lam",), "poisson": ("lam",),
                "negative_binomial": ("k", "p"),
                "generalized_negative_binomial": ("mu", "alpha"), "dirichlet": ("alpha",)}


# MXNet names an op is also called by (the file and tojson use the canonical name)
ALIASES = {
    "Softmax": "SoftmaxOutput", "concat": "Concat", "flatten": "Flatten",
    "split": "SliceChannel", "reshape": "Reshape", "cast": "Cast", "ElementWiseSum": "add_n",
    "stop_gradient": "BlockGrad", "_Plus": "elemwise_add", "_plus": "elemwise_add",
    "_add": "elemwise_add", "_Minus": "elemwise_sub", "_minus": "elemwise_sub",
    "_sub": "elemwise_sub", "_Mul": "elemwise_mul", "_mul": "elemwise_mul",
    "_Div": "elemwise_div", "_div": "elemwise_div", "_Power": "_power", "_Maximum": "_maximum",
    "_Minimum": "_minimum", "_Mod": "_mod", "broadcast_plus": "broadcast_add",
    "broadcast_minus": "broadcast_sub", "SwapAxis": "SwapAxis", "swapaxes": "SwapAxis",
    "_PlusScalar": "_plus_scalar", "_MinusScalar": "_minus_scalar",
    "_RMinusScalar": "_rminus_scalar", "_MulScalar": "_mul_scalar",
    "_DivScalar": "_div_scalar", "_RDivScalar": "_rdiv_scalar",
    "_PowerScalar": "_power_scalar", "_RPowerScalar": "_rpower_scalar",
    "_ModScalar": "_mod_scalar", "_RModScalar": "_rmod_scalar",
    "_MaximumScalar": "_maximum_scalar", "_MinimumScalar": "_minimum_scalar",
    "_Hypot": "_hypot", "_HypotScalar": "_hypot_scalar",
    **{f"random_pdf_{d}": f"_random_pdf_{d}" for d in _DIST_PARAMS},
    "_EqualScalar": "_equal_scalar", "_NotEqualScalar": "_not_equal_scalar",
    "_GreaterScalar": "_greater_scalar", "_GreaterEqualScalar": "_greater_equal_scalar",
    "_LesserScalar": "_lesser_scalar", "_LesserEqualScalar": "_lesser_equal_scalar",
    "_Equal": "_equal", "_Not_Equal": "_not_equal", "_Greater": "_greater",
    "_Greater_Equal": "_greater_equal", "_Lesser": "_lesser", "_Lesser_Equal": "_lesser_equal",
    "ctc_loss": "CTCLoss", "_contrib_CTCLoss": "CTCLoss", "_contrib_ctc_loss": "CTCLoss",
    "identity": "_copy", "linalg_syevd": "_linalg_syevd",
    "_crop_assign": "_slice_assign", "_crop_assign_scalar": "_slice_assign_scalar",
    "linalg_gelqf": "_linalg_gelqf", "linalg_slogdet": "_linalg_slogdet",
    # the registered names MXNet writes to a file for the random operators
    "_random_uniform": "random_uniform", "_random_normal": "random_normal",
    "_random_gamma": "random_gamma", "_random_exponential": "random_exponential",
    "_random_poisson": "random_poisson", "_random_negative_binomial": "random_negative_binomial",
    "_random_generalized_negative_binomial": "random_generalized_negative_binomial",
    "_random_randint": "random_randint", "_sample_multinomial": "sample_multinomial",
    "_shuffle": "shuffle",
    # the numpy-extension names of the detection operators
    "_npx_multibox_prior": "_contrib_MultiBoxPrior",
    "_npx_multibox_target": "_contrib_MultiBoxTarget",
    "_npx_multibox_detection": "_contrib_MultiBoxDetection",
}


def _scalar_op(fn, reflected=False):
    def run(data, scalar=1.0, is_int=None):
        # (the attribute parses as a float: `x % 3` of an int64 x stays int64, as its
        # inferred type says and as the eager `a % 3` gives)
        if float(scalar).is_integer() and np.issubdtype(np.dtype(data.dtype), np.integer):
            scalar = int(scalar)
        return fn(scalar, data) if reflected else fn(data, scalar)
    return run


def _binary_table():
    """MXNet's internal arithmetic ops (what `a + b`, `a * 2` record)."""
    scalar = {
        "_plus_scalar": (nd.add, False), "_minus_scalar": (nd.subtract, False),
        "_rminus_scalar": (nd.subtract, True), "_mul_scalar": (nd.multiply, False),
        "_div_scalar": (nd.divide, False), "_rdiv_scalar": (nd.divide, True),
        "_power_scalar": (nd.power, False), "_rpower_scalar": (nd.power, True),
        "_mod_scalar": (nd.modulo, False), "_rmod_scalar": (nd.modulo, True),
        "_maximum_scalar": (nd.maximum, False), "_minimum_scalar": (nd.minimum, False),
        "_hypot_scalar": (nd.hypot, False),
        "_equal_scalar": (nd.equal, False), "_not_equal_scalar": (nd.not_equal, False),
        "_greater_scalar": (nd.greater, False), "_greater_equal_scalar": (nd.greater_equal,
                                                                          False),
        "_lesser_scalar": (nd.lesser, False), "_lesser_equal_scalar": (nd.lesser_equal, False),
    }
    out = {name: OpSpec(name, _scalar_op(fn, refl), ("data",),
                        dict(scalar=_float(), is_int=_bool))
           for name, (fn, refl) in scalar.items()}
    binary = {"_power": nd.broadcast_power, "_maximum": nd.broadcast_maximum,
              "_minimum": nd.broadcast_minimum, "_mod": nd.broadcast_mod,
              "_hypot": nd.broadcast_hypot,
              "_equal": nd.broadcast_equal, "_not_equal": nd.broadcast_not_equal,
              "_greater": nd.broadcast_greater, "_greater_equal": nd.broadcast_greater_equal,
              "_lesser": nd.broadcast_lesser, "_lesser_equal": nd.broadcast_lesser_equal}
    for name, fn in binary.items():
        out[name] = OpSpec(name, _same_shape(name, fn), ("lhs", "rhs"), {})
    out["_copy"] = OpSpec("_copy", nd.identity, ("data",), {})
    from ..nd_slice_assign import slice_assign, slice_assign_scalar
    out["_slice_assign"] = OpSpec("_slice_assign", slice_assign, ("lhs", "rhs"))
    out["_slice_assign_scalar"] = OpSpec("_slice_assign_scalar", slice_assign_scalar,
                                         ("data",))
    # (lhs, shaped like rhs: MXNet's shape constraint for backward shape inference; rhs gets
    # no gradient)
    out["_identity_with_attr_like_rhs"] = OpSpec(
        "_identity_with_attr_like_rhs",
        _same_shape("_identity_with_attr_like_rhs", lambda lhs, rhs: nd.identity(lhs)),
        ("lhs", "rhs"), {})
    out["_sparse_retain"] = OpSpec("_sparse_retain", _sparse_retain, ("data", "indices"), {})
    from .. import sparse_scatter as scatter
    out["_scatter_elemwise_div"] = OpSpec("_scatter_elemwise_div",
                                          scatter.scatter_elemwise_div, ("lhs", "rhs"), {})
    for name in ("_scatter_plus_scalar", "_scatter_minus_scalar"):
        out[name] = OpSpec(name, getattr(scatter, name[1:]), ("data",),
                           dict(scalar=_float()))
    from ..sparse_square_sum import square_sum, square_sum_stypes
    out["_square_sum"] = OpSpec("_square_sum", square_sum, ("data",),
                                dict(axis=_axes, keepdims=_bool, exclude=_bool),
                                stypes=square_sum_stypes)
    creation = dict(shape=_shape(0, 32, lo=-1), dtype=_opt(_dtype), ctx=_HINT)  # (-1: unknown)
    out["_full"] = OpSpec("_full", _full, (), dict(creation, value=_float()))
    out["_zeros"] = OpSpec("_zeros", lambda shape=(), dtype=None, ctx=None: nd.zeros(
        shape, dtype=dtype or "float32"), (), creation)
    out["_ones"] = OpSpec("_ones", lambda shape=(), dtype=None, ctx=None: nd.ones(
        shape, dtype=dtype or "float32"), (), creation)
    return out


def _sparse_retain(data, indices):
    """sparse.retain; shape inference probes it with dense zeros (the result: data's shape)."""
    from ..ir.ops.checks import SHAPES_ONLY
    from ..sparse import BaseSparseNDArray, retain
    if SHAPES_ONLY.on and not isinstance(data, BaseSparseNDArray):
        return nd.zeros_like(data)
    return retain(data, indices)


def _full(shape=(), value=0.0, dtype=None, ctx=None):
    return nd.full(shape, value, dtype=dtype or "float32")


def _same_shape(name, fn):
    def run(lhs, rhs):
        if tuple(lhs.shape) != tuple(rhs.shape):
            raise MXNetError(f"{name}: operands of shapes {tuple(lhs.shape)} and "
                             f"{tuple(rhs.shape)} differ (use the broadcast_ form)")
        return fn(lhs, rhs)
    return run


# nd names that are not operators (utilities, modules, file I/O, Python callbacks)
_NOT_OPS = {"array", "empty", "load", "save", "load_arrays", "save_arrays", "from_numpy",
            "from_dlpack", "to_dlpack_for_read", "to_dlpack_for_write", "waitall", "wrap",
            "dtype_name", "normalize_axes", "Custom", "NDArray", "MXNetError", "F", "C",
            "STATE", "np", "sys", "builtins", "mxnet_format", "random", "linalg", "contrib",
            "image", "ndarray", "math"}
_SPECS = None


def lookup(name):
    """The OpSpec of an MXNet op name (aliases included), or None."""
    global _SPECS
    if _SPECS is None:
        _SPECS = _table()
        _SPECS.update(_binary_table())
    name = ALIASES.get(name, name)
    spec = _SPECS.get(name)
    if spec is not None:
        return spec
    if name.startswith(("_np_", "_npi_", "_npx_")):    # (mx.sym.np / npx: numpy_symbols.py)
        from .numpy_symbols import spec_for
        return spec_for(name)
    if name in ("_foreach", "_while_loop", "_cond"):     # (subgraph ops: control_flow.py)
        from .control_flow import SPECS
        return SPECS[name]
    if name == "Custom":        # (its spec per op_type: custom_op.py)
        from .custom_op import CustomSpec
        spec = _SPECS[name] = CustomSpec()
        return spec
    fn = None
    if name.startswith("_linalg_"):
        fn = getattr(nd, "linalg_" + name[len("_linalg_"):], None)
    elif name.startswith("_contrib_"):
        fn = getattr(nd.contrib, name[len("_contrib_"):], None)
    elif name.startswith("_image_"):
        fn = getattr(nd.image, name[len("_image_"):], None)
    elif not name.startswith("_") and name not in _NOT_OPS:
        fn = getattr(nd, name, None)
    if fn is None or not callable(fn) or isinstance(fn, type) or inspect.ismodule(fn) or \
            not getattr(fn, "__module__", "").startswith("tracegrad."):
        return None
    try:
        inputs, variadic = _signature_inputs(fn)
    except (TypeError, ValueError):
        return None
    spec = OpSpec(name, fn, inputs, variadic=variadic)
    _SPECS[name] = spec
    return spec


def canonical(name):
    return ALIASES.get(name, name)


# operators that draw random numbers, by canonical name (the samplers by prefix; the
# densities _random_pdf_* are caught too: a false positive only costs what draws_random's
# callers skip)
_RANDOM_OPS = frozenset({"Dropout", "_shuffle", "shuffle", "_npi_dropout", "normal",
                         "uniform"})
_RANDOM_PREFIXES = ("_random_", "_sample_", "random_", "sample_", "_npi_random",
                    "_npi_sample", "_contrib_rand")


def draws_random(node):
    """Whether a graph node's operator draws random numbers: MXNet's common-subexpression
    pass keeps such nodes apart (cse.py), and a hybridized block's first call infers its
    shapes symbolically only without them (gluon/symbolic_shapes.py). An RNN draws when it
    has dropout between layers."""
    if node.op is None:     # (a variable)
        return False
    op = canonical(node.op)
    if op == "RNN":
        return float(node.attrs.get("p", 0) or 0) > 0
    return op in _RANDOM_OPS or op.startswith(_RANDOM_PREFIXES) or \
        getattr(node.spec, "draws_random", False)     # (mx.sym.np.random's _npi_normal, ...)


MAX_OUTPUT_ELEMENTS = 2 ** 31   # what one op of a loaded graph may produce


CREATION_OPS = ("_zeros", "_ones", "_full")
# the input-less samplers, whose `shape` attribute is a creation's (MXNet's InitShape)
SAMPLER_OPS = ("random_uniform", "random_normal", "random_gamma", "random_exponential",
               "random_poisson", "random_negative_binomial",
               "random_generalized_negative_binomial", "random_randint")


def unsized(node):
    """A creation (_zeros, _ones, _full, an input-less sampler) whose shape is unknown: some
    dims 0 or -1, or, outside numpy shape semantics, no dims at all (MXNet's legacy () is
    "unknown", a sampler's default). MXNet takes it from the op that consumes it (an RNN's
    begin state of batch size 0, as Gluon exports it; `random.normal() + x`)."""
    op = node.op
    if op not in CREATION_OPS and (op is None or canonical(op) not in SAMPLER_OPS):
        return False
    shape = node.params.get("shape", ())
    if not shape:
        return not is_np_shape()
    return any(d <= 0 for d in shape)


def sized_creation(node, shape):
    """The creation node's array with the shape its consumer's rule gave."""
    want = node.params.get("shape", ())
    if want and (len(want) != len(shape) or
                 any(w > 0 and w != s for w, s in zip(want, shape))):
        raise MXNetError(f"node '{node.name}' (op {node.op}): shape {want} does not fit the "
                         f"{tuple(shape)} its consumer needs")
    check_shape_size(tuple(shape), f"node '{node.name}'")
    return node.spec.fn(**dict(node.params, shape=tuple(shape)))


# ops whose output k has the shape of input k (casts, copies): shape inference passes a
# consumer's rule for an argument through them (an AMP-converted graph's amp_cast of a weight)
SHAPE_KEEPING = ("amp_cast", "amp_multicast", "Cast", "_copy", "BlockGrad")


# inputs that hold indices, whose dtype says nothing about the op's other arguments (MXNet's
# EmbeddingOpType gives the weight the op's `dtype` attribute, float32 by default, whatever
# integer type the data has)
INDEX_INPUTS = {"Embedding": ("data",), "_contrib_SparseEmbedding": ("data",),
                "_contrib_hawkesll": ("marks",)}

# inputs no gradient flows to (indices, lengths, conditions): an integer argument read only
# through these gets a gradient of 0 from an executor, as MXNet writes it
NONDIFF_INPUTS = {
    **INDEX_INPUTS, "take": ("indices",), "batch_take": ("indices",), "pick": ("index",),
    "gather_nd": ("indices",), "scatter_nd": ("indices",), "one_hot": ("indices",),
    "softmax": ("length",), "where": ("condition",), "_contrib_BilinearResize2D": ("like",),
    "SequenceMask": ("sequence_length",),
    "SequenceLast": ("sequence_length",), "SequenceReverse": ("sequence_length",)}

# inputs whose type is not the data's: BatchNorm keeps gamma, beta and the moving statistics
# of float16 data in float32 (MXNet's BatchNormType, src/operator/nn/batch_norm.cc)
_WIDENED = {name: frozenset({"gamma", "beta", "moving_mean", "moving_var"})
            for name in ("BatchNorm", "BatchNorm_v1", "_contrib_SyncBatchNorm")}


# inputs of one type whatever the data's (MXNet's HawkesLLOpType: marks are int32)
_FIXED_INPUTS = {"_contrib_hawkesll": {"marks": np.dtype(np.int32)}}


def input_dtype(op, input_name, data_dtype):
    """The type an untyped argument `input_name` of op `op` gets from its data's type (None
    for an index input, whose type the data's says nothing about, unless the op fixes it)."""
    fixed = _FIXED_INPUTS.get(canonical(op), {}).get(input_name)
    if fixed is not None:
        return fixed
    if data_dtype is not None and np.dtype(data_dtype) == np.float16 and \
            input_name in _WIDENED.get(canonical(op), ()):
        return np.dtype(np.float32)
    return data_dtype


# MXNet's ElemwiseShape ops: every input has the output's shape, so an input of unknown
# shape (a target Variable in `target - prediction`) takes the shape of a known one
SAME_SHAPE_INPUTS = frozenset({
    "elemwise_add", "elemwise_sub", "elemwise_mul", "elemwise_div", "add_n", "_power",
    "_maximum", "_minimum", "_mod", "_hypot", "_equal", "_not_equal", "_greater",
    "_greater_equal", "_lesser", "_lesser_equal", "_identity_with_attr_like_rhs"})


def behind(entry, ops):
    """The entry (node, output) an input entry reads through a chain of `ops` (casts and
    copies: output k of an amp_multicast is its input k, the others have one input)."""
    node, k = entry
    while node.op is not None and canonical(node.op) in ops and k < len(node.inputs):
        node, k = node.inputs[k if node.op == "amp_multicast" else 0]
    return node, k


def shape_source(entry):
    """The variable (or unsized creation) node whose shape an input entry (node, output)
    has, through SHAPE_KEEPING ops; None when the entry's shape is computed otherwise."""
    node, _ = behind(entry, SHAPE_KEEPING)
    return node if node.op is None or unsized(node) else None


def check_growth(node, in_shapes):
    """Refuse, before running it, an op whose attributes make its result larger than any
    real model's (a file's broadcast_to / tile / repeat / one_hot / _full of a huge shape):
    numpy would try to allocate it."""
    a = node.params
    size = max((int(np.prod(s)) for s in in_shapes), default=1)
    est = None
    if isinstance(a.get("shape"), tuple) and node.op not in ("Reshape", "reshape"):
        est = int(np.prod([max(d, 1) for d in a["shape"]]))
    elif isinstance(a.get("reps"), tuple):
        est = size * int(np.prod([max(d, 1) for d in a["reps"]]))
    elif isinstance(a.get("repeats"), int):
        est = size * max(a["repeats"], 1)
    elif isinstance(a.get("depth"), int):
        est = size * max(a["depth"], 1)
    elif isinstance(a.get("max_iterations"), int):     # (a while loop's stacked outputs)
        est = size * max(a["max_iterations"], 1)
    elif node.op == "UpSampling" and isinstance(a.get("scale"), int):
        est = size * a["scale"] ** 2
    if est is not None and est > MAX_OUTPUT_ELEMENTS:
        raise MXNetError(f"node '{node.name}' (op {node.op}): its attributes ask for a result "
                         f"of about {est} elements, more than {MAX_OUTPUT_ELEMENTS}")


def check_shape_size(shape, where):
    """A shape that could be allocated: non-negative dims, a bounded element count."""
    n = 1
    for d in shape:
        if not isinstance(d, int) or d < 0:
            raise MXNetError(f"{where}: invalid shape {shape}")
        n *= max(d, 1)
    if n > MAX_ELEMENTS:
        raise MXNetError(f"{where}: shape {tuple(shape)} ({n} elements) is implausibly large")
    return tuple(shape)
