"""Every `nd` function and NDArray method, called through `jit` on a second input after a first,
agrees with eager: an op that goes around the dispatcher (numpy on `_data`) is frozen into the
trace as a constant and fails here. A new public function needs a row in CALLS (or a reason
in NO_ARRAY_INPUT); the lists are checked against nd's namespace, so coverage can't shrink."""
import inspect
import warnings

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import nd

R = np.random.default_rng(5)


def f32(*shape, lo=0.5, hi=2.0):
    return R.uniform(lo, hi, shape).astype(np.float32)


def idx(*shape, high=3):
    return R.integers(0, high, shape).astype(np.int64)


def lower_triangular(batch, n):
    """Well-conditioned lower-triangular factors (a diagonal away from zero)."""
    return (np.tril(f32(batch, n, n, lo=-0.5, hi=0.5)) + 2.0 * np.eye(n)).astype(np.float32)


def spd(batch, n):
    """Symmetric positive definite matrices."""
    a = f32(batch, n, n, lo=-1, hi=1)
    return (a @ a.transpose(0, 2, 1) + n * np.eye(n)).astype(np.float32)


def pair(make):
    """Two different draws of the same kind: the first call's and the second call's."""
    return make(), make()


# name -> (arrays maker, static kwargs, positional statics appended after the arrays)
X = lambda: [f32(3, 4)]                      # noqa: E731
XY = lambda: [f32(3, 4), f32(3, 4)]          # noqa: E731
XB = lambda: [f32(3, 4), f32(4)]             # noqa: E731
CALLS = {
    "unary": (X, {}, ()),
    "binary": (XY, {}, ()),
    "broadcast": (XB, {}, ()),
    "Activation": (X, {"act_type": "softrelu"}, ()),
    "Cast": (X, {"dtype": "float64"}, ()),
    "cast": (X, {"dtype": "int32"}, ()),
    "cast_storage": (X, {"stype": "default"}, ()),
    "Dropout": (X, {"p": 0.5, "mode": "always"}, ()),
    "Embedding": (lambda: [idx(2, 3, high=4), f32(4, 5)], {}, ()),
    "FullyConnected": (lambda: [f32(2, 3), f32(5, 3), f32(5)], {"num_hidden": 5}, ()),
    "LeakyReLU": (lambda: [f32(3, 4, lo=-1, hi=1)], {"slope": 0.1}, ()),
    "SliceChannel": (X, {"num_outputs": 2}, ()),
    "split": (X, {"num_outputs": 2}, ()),
    "SwapAxis": (X, {"dim1": 0, "dim2": 1}, ()),
    "swapaxes": (X, {"dim1": 0, "dim2": 1}, ()),
    "argmax": (X, {"axis": 1}, ()),
    "argmin": (X, {"axis": 0}, ()),
    "batch_dot": (lambda: [f32(2, 3, 4), f32(2, 4, 5)], {}, ()),
    "dot": (lambda: [f32(3, 4), f32(4, 2)], {}, ()),
    "broadcast_axes": (lambda: [f32(3, 1)], {"axis": 1, "size": 4}, ()),
    "broadcast_axis": (lambda: [f32(3, 1)], {"axis": 1, "size": 4}, ()),
    "broadcast_like": (lambda: [f32(1, 4), f32(3, 4)], {}, ()),
    "broadcast_to": (lambda: [f32(1, 4)], {"shape": (3, 4)}, ()),
    "clip": (X, {"a_min": 0.8, "a_max": 1.5}, ()),
    "concat": (XY, {"dim": 0}, ()),
    "concatenate": (lambda: [[f32(3, 4), f32(2, 4)]], {}, ()),
    "stack": (XY, {"axis": 1}, ()),
    "expand_dims": (X, {"axis": 1}, ()),
    "flip": (X, {"axis": 1}, ()),
    "reverse": (X, {"axis": 0}, ()),
    "norm": (X, {"axis": 1}, ()),
    "one_hot": (lambda: [idx(5, high=4)], {"depth": 4}, ()),
    "pick": (lambda: [f32(3, 4), idx(3, high=4).astype(np.float32)], {"axis": 1}, ()),
    "fill_element_0index": (lambda: [f32(3, 4), f32(3), idx(3, high=5).astype(np.float32)],
                            {}, ()),
    "choose_element_0index": (lambda: [f32(3, 4), idx(3, high=4).astype(np.float32)], {},
                              ()),
    "repeat": (X, {"repeats": 2, "axis": 1}, ()),
    "reshape": (X, {"shape": (2, -1)}, ()),
    "reshape_like": (lambda: [f32(3, 4), f32(6, 2)], {}, ()),
    "slice": (X, {"begin": (1, 0), "end": (3, 4), "step": (1, 2)}, ()),
    "crop": (X, {"begin": (1, 0), "end": (3, 4)}, ()),
    "slice_axis": (X, {"axis": 1, "begin": 1, "end": 3}, ()),
    "softmax_cross_entropy": (lambda: [f32(3, 4), idx(3, high=4).astype(np.float32)], {}, ()),
    "squeeze": (lambda: [f32(3, 1, 4)], {}, ()),
    "take": (lambda: [f32(5, 4), idx(3, high=5)], {}, ()),
    "tile": (X, {"reps": (2, 1)}, ()),
    "transpose": (X, {"axes": (1, 0)}, ()),
    "where": (lambda: [(f32(3, 4) > 1.2).astype(np.float32), f32(3, 4), f32(3, 4)], {}, ()),
    "full_like": (X, {"fill_value": 3.0}, ()),
    "power": (lambda: [f32(3, 4), f32(3, 4, lo=-1, hi=2)], {}, ()),
    # legacy capitalised names (nd_legacy.py)
    "BatchNorm": (lambda: [f32(2, 3, 4), f32(3), f32(3), f32(3), f32(3)],
                  {"fix_gamma": False, "eps": 1e-3}, ()),
    "BatchNorm_v1": (lambda: [f32(2, 3, 4), f32(3), f32(3), f32(3), f32(3)],
                     {"fix_gamma": False}, ()),
    "Concat": (XY, {"dim": 1}, ()),
    "ElementWiseSum": (lambda: [f32(3, 4), f32(3, 4), f32(3, 4)], {}, ()),
    "add_n": (lambda: [f32(3, 4), f32(3, 4), f32(3, 4)], {}, ()),
    "ExpandDims": (X, {"axis": 1}, ()),
    "Transpose": (X, {"axes": (1, 0)}, ()),
    "Reshape": (X, {"shape": (0, 2, -1)}, ()),
    "L2Normalization": (lambda: [f32(2, 3, 4)], {"mode": "channel"}, ()),
    "LayerNorm": (lambda: [f32(3, 4), f32(4), f32(4)], {"axis": -1}, ()),
    "LinearRegressionOutput": (XY, {}, ()),
    "LogisticRegressionOutput": (lambda: [f32(3, 4, lo=-2, hi=2), f32(3, 4, lo=0, hi=1)],
                                 {}, ()),
    "MAERegressionOutput": (XY, {}, ()),
    "MakeLoss": (X, {"grad_scale": 2.0, "normalization": "valid", "valid_thresh": 1.0}, ()),
    "make_loss": (X, {}, ()),
    "SoftmaxOutput": (lambda: [f32(3, 4, lo=-2, hi=2), idx(3, high=4).astype(np.float32)],
                      {"normalization": "batch"}, ()),
    "Softmax": (lambda: [f32(3, 4, lo=-2, hi=2), idx(3, high=4).astype(np.float32)], {}, ()),
    "SVMOutput": (lambda: [f32(3, 4, lo=-2, hi=2), idx(3, high=4).astype(np.float32)],
                  {"margin": 0.5}, ()),
    "SoftmaxActivation": (lambda: [f32(2, 3, 2, lo=-2, hi=2)], {"mode": "channel"}, ()),
    "UpSampling": (lambda: [f32(1, 2, 2, 3)], {"scale": 2, "sample_type": "nearest"}, ()),
    "Pad": (lambda: [f32(1, 2, 3, 4)],
            {"mode": "constant", "pad_width": (0, 0, 0, 0, 1, 2, 2, 1), "constant_value": 1.5},
            ()),
    "pad": (lambda: [f32(1, 2, 3, 4)], {"mode": "edge", "pad_width": (0, 0, 0, 0, 1, 2, 2, 1)},
            ()),
    # convolution, pooling, normalisation (nd_nn.py)
    "Convolution": (lambda: [f32(1, 2, 5, 5, lo=-1, hi=1), f32(3, 2, 3, 3, lo=-1, hi=1), f32(3)],
                    {"kernel": (3, 3), "num_filter": 3, "stride": (2, 1), "pad": (1, 1)}, ()),
    "Deconvolution": (lambda: [f32(1, 2, 3, 3, lo=-1, hi=1), f32(2, 3, 3, 3, lo=-1, hi=1)],
                      {"kernel": (3, 3), "num_filter": 3, "stride": (2, 2)}, ()),
    "Pooling": (lambda: [f32(1, 2, 5, 5)],
                {"kernel": (2, 2), "stride": (2, 2), "pool_type": "avg",
                 "pooling_convention": "full"}, ()),
    "im2col": (lambda: [f32(1, 2, 4, 3)], {"kernel": (2, 2), "stride": (1, 1)}, ()),
    "col2im": (lambda: [f32(1, 8, 4)], {"output_size": (3, 3), "kernel": (2, 2)}, ()),
    "GroupNorm": (lambda: [f32(2, 4, 3), f32(2), f32(2)], {"num_groups": 2}, ()),
    "InstanceNorm": (lambda: [f32(2, 3, 4), f32(3), f32(3)], {"eps": 1e-3}, ()),
    # recurrent and sequences (recurrent.py, sequence.py): lengths in 1..T, as floats (MXNet)
    "RNN": (lambda: [f32(3, 2, 4, lo=-1, hi=1), f32(4 * 3 * (4 + 3 + 2), lo=-0.5, hi=0.5),
                     f32(1, 2, 3, lo=-1, hi=1), f32(1, 2, 3, lo=-1, hi=1)],
            {"state_size": 3, "num_layers": 1, "mode": "lstm", "state_outputs": True}, ()),
    "SequenceMask": (lambda: [f32(3, 2, 4), (idx(2, high=3) + 1).astype(np.float32)],
                     {"use_sequence_length": True, "value": -1.0}, ()),
    "SequenceLast": (lambda: [f32(2, 3, 4), (idx(2, high=3) + 1).astype(np.float32)],
                     {"use_sequence_length": True, "axis": 1}, ()),
    "SequenceReverse": (lambda: [f32(3, 2, 4), (idx(2, high=3) + 1).astype(np.float32)],
                        {"use_sequence_length": True}, ()),
    # math (nd_math.py), each on its domain
    "arcsin": (lambda: [f32(3, 4, lo=-0.9, hi=0.9)], {}, ()),
    "arccos": (lambda: [f32(3, 4, lo=-0.9, hi=0.9)], {}, ()),
    "arctanh": (lambda: [f32(3, 4, lo=-0.9, hi=0.9)], {}, ()),
    "arccosh": (lambda: [f32(3, 4, lo=1.1, hi=3.0)], {}, ()),
    "arcsinh": (lambda: [f32(3, 4, lo=-2, hi=2)], {}, ()),
    "arctan": (lambda: [f32(3, 4, lo=-2, hi=2)], {}, ()),
    "tan": (lambda: [f32(3, 4, lo=-1.2, hi=1.2)], {}, ()),
    "sinh": (lambda: [f32(3, 4, lo=-2, hi=2)], {}, ()),
    "cosh": (lambda: [f32(3, 4, lo=-2, hi=2)], {}, ()),
    "erf": (lambda: [f32(3, 4, lo=-2, hi=2)], {}, ()),
    "erfinv": (lambda: [f32(3, 4, lo=-0.9, hi=0.9)], {}, ()),
    "degrees": (lambda: [f32(3, 4, lo=-3, hi=3)], {}, ()),
    "radians": (lambda: [f32(3, 4, lo=-180, hi=180)], {}, ()),
    "cbrt": (lambda: [f32(3, 4, lo=-3, hi=3)], {}, ()),
    "trunc": (lambda: [f32(3, 4, lo=-3, hi=3)], {}, ()),
    "fix": (lambda: [f32(3, 4, lo=-3, hi=3)], {}, ()),
    "rint": (lambda: [f32(3, 4, lo=-3, hi=3)], {}, ()),
    "hard_sigmoid": (lambda: [f32(3, 4, lo=-4, hi=4)], {"alpha": 0.3, "beta": 0.4}, ()),
    "smooth_l1": (lambda: [f32(3, 4, lo=-2, hi=2)], {"scalar": 1.5}, ()),
    "sort": (X, {"axis": 1, "is_ascend": False}, ()),
    "argsort": (X, {"axis": 0}, ()),
    "topk": (X, {"axis": 1, "k": 2, "ret_typ": "both"}, ()),
    "cumsum": (X, {"axis": 1}, ()),
    "prod": (X, {"axis": 0}, ()),
    "nansum": (X, {"axis": 1}, ()),
    "nanprod": (X, {"axis": 0}, ()),
    "rcbrt": (lambda: [f32(3, 4, lo=0.5, hi=3)], {}, ()),
    "moveaxis": (lambda: [f32(2, 3, 4)], {"source": 0, "destination": -1}, ()),
    "moments": (X, {"axes": (1,)}, ()),
    "sum_axis": (X, {"axis": 1}, ()),
    "max_axis": (X, {"axis": 0}, ()),
    "min_axis": (X, {"axis": 1, "keepdims": True}, ()),
    "argmax_channel": (X, {}, ()),
    "shape_array": (X, {}, ()),
    "size_array": (X, {}, ()),
    "gather_nd": (lambda: [f32(3, 4), np.stack([idx(5, high=3), idx(5, high=4)])], {}, ()),
    "scatter_nd": (lambda: [f32(5), np.stack(np.unravel_index(R.choice(12, 5, replace=False),
                                                              (3, 4))).astype(np.int64)],
                   {"shape": (3, 4)}, ()),
    # logic, special functions (nd_math.py) and layout (nd_shape.py); -1/0/1 so truth varies
    "logical_and": (lambda: [f32(3, 4, lo=-1.4, hi=1.4).round(), f32(4).round()], {}, ()),
    "logical_or": (lambda: [f32(3, 4, lo=-1.4, hi=1.4).round(), f32(4).round()], {}, ()),
    "logical_xor": (lambda: [f32(3, 4, lo=-1.4, hi=1.4).round(), f32(4).round()], {}, ()),
    "logical_not": (lambda: [f32(3, 4, lo=-1.4, hi=1.4).round()], {}, ()),
    "hypot": (lambda: [f32(3, 4, lo=-2, hi=2), f32(4, lo=-2, hi=2)], {}, ()),
    "arctan2": (lambda: [f32(3, 4, lo=-2, hi=2), f32(4, lo=-2, hi=2)], {}, ()),
    "identity": (X, {}, ()),
    "gamma": (lambda: [f32(3, 4, lo=0.2, hi=4.0)], {}, ()),
    "gammaln": (lambda: [f32(3, 4, lo=0.1, hi=6.0)], {}, ()),
    "diag": (X, {"k": 1}, ()),
    "slice_like": (lambda: [f32(3, 4), f32(2, 3)], {}, ()),
    "depth_to_space": (lambda: [f32(1, 8, 2, 3)], {"block_size": 2}, ()),
    "space_to_depth": (lambda: [f32(1, 2, 4, 6)], {"block_size": 2}, ()),
    # linalg_* (linalg.py); potrf/trsm run through numpy between native segments
    "linalg_gemm": (lambda: [f32(2, 3), f32(3, 4), f32(2, 4)],
                    {"alpha": 0.5, "beta": 2.0}, ()),
    "linalg_gemm2": (lambda: [f32(3, 2), f32(3, 4)], {"transpose_a": True, "alpha": 2.0}, ()),
    "linalg_syrk": (X, {"alpha": 0.5, "transpose": True}, ()),
    "linalg_trmm": (lambda: [f32(3, 3), f32(3, 4)], {"lower": False}, ()),
    "linalg_trsm": (lambda: [lower_triangular(2, 3), f32(2, 3, 4)], {"alpha": 1.5}, ()),
    "linalg_potrf": (lambda: [spd(2, 3)], {}, ()),
    "linalg_potri": (lambda: [lower_triangular(2, 3)], {}, ()),
    "linalg_sumlogdiag": (lambda: [f32(2, 3, 3)], {}, ()),
    "linalg_extractdiag": (lambda: [f32(2, 3, 3)], {}, ()),
    "linalg_makediag": (lambda: [f32(2, 3)], {}, ()),
    "linalg_extracttrian": (lambda: [f32(2, 3, 3)], {"offset": 0, "lower": False}, ()),
    "linalg_maketrian": (lambda: [f32(2, 6)], {"offset": -1}, ()),
    # inverse / det / slogdet run through numpy (LAPACK's LU) between native segments
    "linalg_inverse": (lambda: [spd(2, 3)], {}, ()),
    "linalg_det": (lambda: [spd(2, 3)], {}, ()),
    "linalg_slogdet": (lambda: [spd(1, 3)[0]], {}, ()),
    # syevd (eigh of the symmetrised operand) runs through numpy between native segments
    "linalg_syevd": (lambda: [spd(2, 3)], {}, ()),
    # gelqf (QR of the transpose in float64) runs through numpy between native segments
    "linalg_gelqf": (lambda: [f32(2, 3, 4, lo=-1, hi=1) + np.eye(3, 4, dtype=np.float32)],
                     {}, ()),
    # index arithmetic, AMP casts, products (nd_indexing.py, nd_amp.py, nd_products.py)
    "batch_take": (lambda: [f32(3, 4), idx(3, high=4)], {}, ()),
    "ravel_multi_index": (lambda: [np.stack([idx(5, high=3), idx(5, high=4)])],
                          {"shape": (3, 4)}, ()),
    "unravel_index": (lambda: [idx(5, high=12).astype(np.float32)], {"shape": (3, 4)}, ()),
    "split_v2": (lambda: [f32(6, 4)], {"indices_or_sections": (1, 4), "axis": 0}, ()),
    "histogram": (lambda: [f32(3, 4)], {"bins": 5, "range": (0.5, 2.0)}, ()),
    "amp_cast": (X, {"dtype": "float16"}, ()),
    "amp_multicast": (lambda: [f32(3, 4), f32(2).astype(np.float64)], {"num_outputs": 2}, ()),
    "khatri_rao": (lambda: [f32(2, 3), f32(4, 3)], {}, ()),
    # densities of samples (random_pdf.py): parameters of the samples' leading shape
    "random_pdf_uniform": (lambda: [f32(2, 3), f32(2, lo=0.0, hi=0.4), f32(2, lo=2.5, hi=3.0)],
                           {}, ()),
    "random_pdf_normal": (lambda: [f32(2, 3), f32(2), f32(2)], {"is_log": True}, ()),
    "random_pdf_gamma": (lambda: [f32(2, 3), f32(2), f32(2)], {}, ()),
    "random_pdf_exponential": (lambda: [f32(2, 3), f32(2)], {}, ()),
    "random_pdf_poisson": (lambda: [idx(2, 3, high=5).astype(np.float32), f32(2)], {}, ()),
    "random_pdf_negative_binomial": (
        lambda: [idx(2, 3, high=5).astype(np.float32), f32(2), f32(2, lo=0.2, hi=0.8)], {}, ()),
    "random_pdf_generalized_negative_binomial": (
        lambda: [idx(2, 3, high=5).astype(np.float32), f32(2), f32(2)], {}, ()),
    "random_pdf_dirichlet": (lambda: [f32(2, 3, 4, lo=0.1, hi=0.9), f32(2, 4)], {}, ()),
    # nn and vision operators (nd_nn_more.py, nd_spatial.py, nd_roi.py)
    "softmin": (X, {"axis": 0, "temperature": 2.0}, ()),
    "LRN": (lambda: [f32(2, 5, 3, 3)], {"nsize": 3, "alpha": 0.1}, ()),
    "Crop": (lambda: [f32(1, 2, 5, 6)], {"h_w": (3, 4), "offset": (1, 2)}, ()),
    "Correlation": (lambda: [f32(1, 2, 5, 6), f32(1, 2, 5, 6)],
                    {"kernel_size": 3, "max_displacement": 1, "pad_size": 1,
                     "is_multiply": False}, ()),
    "CTCLoss": (lambda: [f32(4, 2, 3), np.array([[1, 2], [2, 0]], np.float32)], {}, ()),
    "ctc_loss": (lambda: [f32(4, 2, 3), np.array([[0, -1], [1, 1]], np.float32)],
                 {"blank_label": "last"}, ()),
    "GridGenerator": (lambda: [f32(2, 6, lo=-0.5, hi=0.5)],
                      {"transform_type": "affine", "target_shape": (3, 4)}, ()),
    "BilinearSampler": (lambda: [f32(2, 3, 4, 5), f32(2, 2, 3, 3, lo=-1.1, hi=1.1)], {}, ()),
    "SpatialTransformer": (lambda: [f32(2, 3, 4, 5), f32(2, 6, lo=-0.6, hi=0.6)],
                           {"target_shape": (3, 3), "transform_type": "affine",
                            "sampler_type": "bilinear"}, ()),
    "ROIPooling": (lambda: [f32(2, 3, 6, 7), np.array([[0, 0, 0, 4, 5], [1, 1.5, 2, 6, 5]],
                                                      np.float32)],
                   {"pooled_size": (2, 2), "spatial_scale": 1.0}, ()),
}
# Other code paths of the same functions (modes, layouts, optional outputs): label -> row.
SEQ = lambda: [f32(3, 2, 4), (idx(2, high=3) + 1).astype(np.float32)]  # noqa: E731
LABELS = lambda: [f32(3, 4, lo=-2, hi=2), idx(3, high=4).astype(np.float32)]  # noqa: E731
VARIANTS = {
    "topk mask": ("topk", X, {"k": 2, "ret_typ": "mask", "is_ascend": True}),
    "topk flat value": ("topk", X, {"axis": None, "k": 3, "ret_typ": "value"}),
    "topk int32 indices": ("topk", X, {"axis": 0, "k": 2, "dtype": "int32"}),
    "argsort descending int32": ("argsort", X, {"is_ascend": False, "dtype": "int32"}),
    "sort flat": ("sort", X, {"axis": None}),
    "pick keepdims index": ("pick", lambda: [f32(3, 4), idx(3, 1, high=4).astype(np.float32)],
                            {"axis": 1, "keepdims": True}),
    "broadcast_like axes": ("broadcast_like", lambda: [f32(4, 1), f32(2, 5)],
                            {"lhs_axes": (1,), "rhs_axes": (-1,)}),
    "reshape_like ranges": ("reshape_like", lambda: [f32(6, 4), f32(2, 3, 5)],
                            {"lhs_begin": 0, "lhs_end": 1, "rhs_begin": 0, "rhs_end": 2}),
    "cumsum flat float64": ("cumsum", X, {"dtype": "float64"}),
    "prod all": ("prod", X, {}),
    "prod exclude keepdims": ("prod", X, {"axis": 1, "exclude": True, "keepdims": True}),
    "moments all keepdims": ("moments", X, {"keepdims": True}),
    "SoftmaxOutput ignore valid": ("SoftmaxOutput", LABELS,
                                   {"use_ignore": True, "ignore_label": 1,
                                    "normalization": "valid", "grad_scale": 2.0}),
    "SoftmaxOutput multi_output": ("SoftmaxOutput", lambda: [
        f32(2, 3, 4, lo=-2, hi=2), idx(2, 4, high=3).astype(np.float32)],
        {"multi_output": True, "smooth_alpha": 0.1}),
    "SoftmaxOutput preserve_shape": ("SoftmaxOutput", lambda: [
        f32(2, 3, 4), idx(2, 3, high=4).astype(np.float32)], {"preserve_shape": True}),
    "SoftmaxActivation instance": ("SoftmaxActivation", lambda: [f32(2, 3, 2)], {}),
    "Pooling max": ("Pooling", lambda: [f32(1, 2, 5, 5, lo=-1, hi=1)],
                    {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1)}),
    "Pooling global avg": ("Pooling", lambda: [f32(2, 3, 4, 4)],
                           {"global_pool": True, "pool_type": "avg"}),
    "Pooling lp2 NHWC": ("Pooling", lambda: [f32(1, 4, 4, 2, lo=-1, hi=1)],
                         {"kernel": (2, 2), "stride": (2, 2), "pool_type": "lp", "p_value": 2,
                          "layout": "NHWC"}),
    "Pooling 1-d sum same": ("Pooling", lambda: [f32(2, 3, 7)],
                             {"kernel": (3,), "stride": (2,), "pool_type": "sum",
                              "pooling_convention": "same"}),
    "Pooling avg exclude pad": ("Pooling", lambda: [f32(1, 2, 4, 4)],
                                {"kernel": (3, 3), "pad": (1, 1), "pool_type": "avg",
                                 "count_include_pad": False}),
    "Convolution 1-d grouped dilated": ("Convolution", lambda: [
        f32(2, 4, 9, lo=-1, hi=1), f32(6, 2, 3, lo=-1, hi=1), f32(6)],
        {"kernel": (3,), "num_filter": 6, "num_group": 2, "dilate": (2,)}),
    "Convolution NHWC no_bias": ("Convolution", lambda: [
        f32(1, 5, 5, 2, lo=-1, hi=1), f32(3, 3, 3, 2, lo=-1, hi=1)],
        {"kernel": (3, 3), "num_filter": 3, "layout": "NHWC", "no_bias": True}),
    "Convolution 3-d": ("Convolution", lambda: [
        f32(1, 2, 3, 4, 4, lo=-1, hi=1), f32(2, 2, 2, 2, 2, lo=-1, hi=1), f32(2)],
        {"kernel": (2, 2, 2), "num_filter": 2, "pad": (1, 0, 1)}),
    "Deconvolution target_shape bias": ("Deconvolution", lambda: [
        f32(1, 2, 3, 3, lo=-1, hi=1), f32(2, 3, 3, 3, lo=-1, hi=1), f32(3)],
        {"kernel": (3, 3), "num_filter": 3, "stride": (2, 2), "target_shape": (6, 6),
         "no_bias": False}),
    "Deconvolution grouped adj pad": ("Deconvolution", lambda: [
        f32(1, 4, 3, 3, lo=-1, hi=1), f32(4, 1, 2, 2, lo=-1, hi=1)],
        {"kernel": (2, 2), "num_filter": 2, "num_group": 2, "stride": (2, 2),
         "pad": (1, 1), "adj": (1, 1)}),
    "im2col strided padded dilated": ("im2col", lambda: [f32(2, 2, 5, 4)],
                                      {"kernel": (2, 2), "stride": (2, 1), "pad": (1, 1),
                                       "dilate": (1, 2)}),
    "col2im strided padded": ("col2im", lambda: [f32(1, 8, 6)],
                              {"output_size": (4, 3), "kernel": (2, 2), "stride": (2, 1),
                               "pad": (1, 0)}),
    "BatchNorm fix_gamma mean_var": ("BatchNorm", lambda: [f32(2, 3, 2, 2), f32(3), f32(3),
                                                           f32(3), f32(3)],
                                     {"output_mean_var": True}),
    "BatchNorm channel-last global": ("BatchNorm", lambda: [f32(2, 4, 3), f32(3), f32(3),
                                                            f32(3), f32(3)],
                                      {"axis": -1, "use_global_stats": True,
                                       "fix_gamma": False}),
    "LayerNorm axis 1 mean_var": ("LayerNorm", lambda: [f32(2, 3, 4), f32(3), f32(3)],
                                  {"axis": 1, "output_mean_var": True}),
    "L2Normalization instance": ("L2Normalization", lambda: [f32(2, 3, 4)], {}),
    "L2Normalization spatial": ("L2Normalization", lambda: [f32(2, 3, 2, 2)],
                                {"mode": "spatial"}),
    "GroupNorm 4-d": ("GroupNorm", lambda: [f32(2, 6, 2, 2), f32(3), f32(3)],
                      {"num_groups": 3, "eps": 1e-3}),
    "InstanceNorm 4-d": ("InstanceNorm", lambda: [f32(2, 3, 2, 2), f32(3), f32(3)], {}),
    "UpSampling two inputs": ("UpSampling", lambda: [f32(1, 2, 2, 2), f32(1, 1, 2, 2)],
                              {"scale": 3, "num_args": 2}),
    "pad reflect": ("pad", lambda: [f32(1, 2, 3, 4)],
                    {"mode": "reflect", "pad_width": (0, 0, 0, 0, 2, 1, 1, 3)}),
    "Pad 5-d constant": ("Pad", lambda: [f32(1, 1, 2, 3, 2)],
                         {"pad_width": (0, 0, 0, 0, 1, 0, 0, 1, 1, 1)}),
    "RNN gru bidirectional two layers": ("RNN", lambda: [
        f32(3, 2, 4, lo=-1, hi=1), f32(3 * 3 * 2 * (4 + 3 + 2) + 3 * 3 * 2 * (6 + 3 + 2),
                                       lo=-0.5, hi=0.5), f32(4, 2, 3, lo=-1, hi=1)],
        {"state_size": 3, "num_layers": 2, "bidirectional": True, "mode": "gru",
         "state_outputs": True}),
    "RNN relu": ("RNN", lambda: [f32(4, 2, 3, lo=-1, hi=1),
                                 f32(2 * (3 + 2 + 2), lo=-0.5, hi=0.5), f32(1, 2, 2)],
                 {"state_size": 2, "mode": "rnn_relu"}),
    "RNN lstm lengths": ("RNN", lambda: [
        f32(3, 2, 4, lo=-1, hi=1), f32(4 * 3 * (4 + 3 + 2) * 2, lo=-0.5, hi=0.5),
        f32(2, 2, 3, lo=-1, hi=1), f32(2, 2, 3, lo=-1, hi=1),
        (idx(2, high=3) + 1).astype(np.float32)],
        {"state_size": 3, "mode": "lstm", "bidirectional": True, "use_sequence_length": True,
         "state_outputs": True}),
    "SequenceMask axis 1": ("SequenceMask", lambda: [f32(2, 3, 4),
                                                     (idx(2, high=3) + 1).astype(np.float32)],
                            {"use_sequence_length": True, "axis": 1}),
    "SequenceMask no lengths": ("SequenceMask", SEQ, {}),
    "SequenceLast no lengths": ("SequenceLast", lambda: [f32(3, 2, 4)], {}),
    "SequenceReverse no lengths": ("SequenceReverse", lambda: [f32(3, 2, 4)], {}),
    "SequenceLast int lengths": ("SequenceLast", lambda: [f32(3, 2), idx(2, high=3) + 1],
                                 {"use_sequence_length": True}),
    "linalg_potrf upper": ("linalg_potrf", lambda: [spd(1, 4)], {"lower": False}),
    "linalg_potri upper": ("linalg_potri", lambda: [
        lower_triangular(2, 3).transpose(0, 2, 1).copy()], {"lower": False}),
    "linalg_trsm right transposed upper": ("linalg_trsm", lambda: [
        lower_triangular(1, 3).transpose(0, 2, 1).copy(), f32(1, 4, 3)],
        {"rightside": True, "transpose": True, "lower": False}),
    "linalg_trmm right transposed": ("linalg_trmm", lambda: [f32(3, 3), f32(4, 3)],
                                     {"rightside": True, "transpose": True, "alpha": 0.5}),
    "linalg_gemm transposed": ("linalg_gemm", lambda: [f32(2, 3, 2), f32(2, 4, 3),
                                                       f32(2, 2, 4)],
                               {"transpose_a": True, "transpose_b": True}),
    "linalg_syrk plain": ("linalg_syrk", lambda: [f32(2, 3, 4)], {}),
    "gather_nd partial": ("gather_nd", lambda: [f32(3, 4, 2), idx(1, 2, 3, high=3)], {}),
    "scatter_nd 3-d": ("scatter_nd", lambda: [f32(2, 2, 3), np.stack(np.unravel_index(
        R.choice(8, 4, replace=False), (2, 4))).reshape(2, 2, 2).astype(np.int64)],
        {"shape": (2, 4, 3)}),
    "LeakyReLU prelu": ("LeakyReLU", lambda: [f32(2, 3, 4, lo=-1, hi=1), f32(3)],
                        {"act_type": "prelu"}),
    "LeakyReLU elu": ("LeakyReLU", lambda: [f32(3, 4, lo=-2, hi=2)],
                      {"act_type": "elu", "slope": 0.7}),
    "LeakyReLU selu": ("LeakyReLU", lambda: [f32(3, 4, lo=-2, hi=2)], {"act_type": "selu"}),
    "LeakyReLU gelu": ("LeakyReLU", lambda: [f32(3, 4, lo=-2, hi=2)], {"act_type": "gelu"}),
    "LeakyReLU rrelu": ("LeakyReLU", lambda: [f32(3, 4, lo=-2, hi=2)], {"act_type": "rrelu"}),
    "Activation sigmoid": ("Activation", X, {"act_type": "sigmoid"}),
    "Activation softsign": ("Activation", lambda: [f32(3, 4, lo=-2, hi=2)],
                            {"act_type": "softsign"}),
    "hard_sigmoid defaults": ("hard_sigmoid", lambda: [f32(3, 4, lo=-4, hi=4)], {}),
    "smooth_l1 default": ("smooth_l1", lambda: [f32(3, 4, lo=-2, hi=2)], {}),
    "diag of a vector k=-2": ("diag", lambda: [f32(3)], {"k": -2}),
    "diag 3-d axes 2, 0": ("diag", lambda: [f32(2, 3, 4)], {"k": -1, "axis1": 2, "axis2": 0}),
    "slice_like axes": ("slice_like", lambda: [f32(3, 4, 2), f32(2, 4, 1)], {"axes": (0, -1)}),
    "gammaln negative": ("gammaln", lambda: [f32(3, 4, lo=-2.9, hi=-2.1)], {}),
    "gamma negative": ("gamma", lambda: [f32(3, 4, lo=-0.9, hi=-0.1)], {}),
}
UNARY = ("BlockGrad", "Flatten", "abs", "ceil", "cos", "exp", "expm1", "flatten", "floor",
         "log", "log10", "log1p", "log2", "log_softmax", "max", "mean", "min", "negative",
         "ones_like", "reciprocal", "relu", "round", "rsqrt", "sigmoid", "sign", "sin",
         "softmax", "softsign", "sqrt", "square", "stop_gradient", "sum", "tanh", "zeros_like")
BINARY = ("add", "divide", "elemwise_add", "elemwise_div", "elemwise_mul", "elemwise_sub",
          "equal", "greater", "greater_equal", "lesser", "lesser_equal", "maximum", "minimum",
          "modulo", "multiply", "not_equal", "subtract")
BROADCAST = tuple(n for n in dir(nd) if n.startswith("broadcast_") and n not in CALLS)
NO_ARRAY_INPUT = {  # creation, files and helpers: nothing a trace could freeze
    "arange", "array", "empty", "eye", "full", "linspace", "ones", "zeros", "load",
    "load_arrays", "load_frombuffer", "save", "save_arrays", "waitall", "wrap", "dtype_name",
    "normalize_axes"}
# Random draws take no array, only a shape: each is called inside a function of x with the
# seed set before the eager and the compiled call (test_random_function_through_jit); "random."
# names are nd.random's.
RANDOM = {
    "uniform": lambda x: nd.uniform(low=-1.0, high=2.0, shape=x.shape) * x,
    "random_uniform": lambda x: nd.random_uniform(shape=x.shape, dtype="float64") * x,
    "normal": lambda x: nd.normal(loc=1.0, scale=2.0, shape=x.shape) * x,
    "random_normal": lambda x: nd.random_normal(scale=0.5, shape=x.shape) * x,
    "random.uniform": lambda x: nd.random.uniform(0, 1, shape=(3, 4)) + x,
    "random.normal": lambda x: nd.random.normal(shape=(3, 4), dtype="float64") + x,
    "random.randn": lambda x: nd.random.randn(3, 4) * x,
    "random.randint": lambda x: nd.random.randint(0, 5, shape=x.shape) * x,
    "random.exponential": lambda x: nd.random.exponential(2.0, shape=x.shape) * x,
    "random.shuffle": lambda x: nd.random.shuffle(x),
    "shuffle": lambda x: nd.shuffle(x),
    "random.multinomial": lambda x: nd.random.multinomial(x, shape=3, get_prob=True),
    # the aliases and sample_ names draw the same graphs (one compile each, LLVM's cost)
    "random.gamma": lambda x: nd.random.gamma(x, x, shape=2),
    "random.poisson": lambda x: nd.random.poisson(x * 10.0, shape=2),
    "random.negative_binomial": lambda x: nd.random.negative_binomial(x, x / 3.0, shape=2),
    "random.generalized_negative_binomial": lambda x: nd.random.generalized_negative_binomial(
        x * 5.0, x / 4.0, shape=2),
    "random_gamma": lambda x: nd.random_gamma(x, x, shape=2),
    "random_poisson": lambda x: nd.random_poisson(x * 10.0, shape=2),
    "random_negative_binomial": lambda x: nd.random_negative_binomial(x, x / 3.0, shape=2),
    "random_generalized_negative_binomial": lambda x: nd.random_generalized_negative_binomial(
        x * 5.0, x / 4.0, shape=2),
    "random_exponential": lambda x: nd.random_exponential(2.0, shape=x.shape) * x,
    "random_randint": lambda x: nd.random_randint(0, 5, shape=x.shape) * x,
    "sample_uniform": lambda x: nd.sample_uniform(x, x * 2.0, shape=2),
    "sample_normal": lambda x: nd.sample_normal(x, x, shape=2),
    "sample_exponential": lambda x: nd.sample_exponential(x, shape=2),
    "sample_gamma": lambda x: nd.sample_gamma(x, x, shape=2),
    "sample_poisson": lambda x: nd.sample_poisson(x * 10.0, shape=2),
    "sample_negative_binomial": lambda x: nd.sample_negative_binomial(x, x / 3.0, shape=2),
    "sample_generalized_negative_binomial": lambda x: nd.sample_generalized_negative_binomial(
        x * 5.0, x / 4.0, shape=2),
    "sample_multinomial": lambda x: nd.sample_multinomial(x, shape=3),
    # in x's shape and dtype (MXNet's _random_*_like); nd.random's and the flat names draw
    # the same graphs (one compile each)
    "random_uniform_like": lambda x: nd.random_uniform_like(x, -1.0, 2.0) * x,
    "random_normal_like": lambda x: nd.random_normal_like(x, loc=1.0) * x,
    "random_gamma_like": lambda x: nd.random_gamma_like(x, 2.0, 0.5) + x,
    "random_exponential_like": lambda x: nd.random_exponential_like(x, 2.0) * x,
    "random_poisson_like": lambda x: nd.random_poisson_like(x, 20.0) + x,
    "random_negative_binomial_like": lambda x: nd.random_negative_binomial_like(x, 3, 0.4),
    "random_generalized_negative_binomial_like": lambda x:
        nd.random_generalized_negative_binomial_like(x, 2.0, 0.3),
    "random.uniform_like": lambda x: nd.random.uniform_like(x, low=-1.0, high=2.0) * x,
    "random.normal_like": lambda x: nd.random.normal_like(data=x, loc=1.0) * x,
    "random.gamma_like": lambda x: nd.random.gamma_like(x, alpha=2.0, beta=0.5) + x,
    "random.exponential_like": lambda x: nd.random.exponential_like(x, lam=2.0) * x,
    "random.poisson_like": lambda x: nd.random.poisson_like(x, lam=20.0) + x,
    "random.negative_binomial_like": lambda x: nd.random.negative_binomial_like(x, k=3, p=0.4),
    "random.generalized_negative_binomial_like": lambda x:
        nd.random.generalized_negative_binomial_like(x, mu=2.0, alpha=0.3),
}
RANDOM_HELPERS = {"seed", "next_key", "dtype_name"}  # nd.random's non-drawing functions
# DLPack / numpy interchange hands out (or wraps) a real buffer, so it cannot be a traced
# op: from_dlpack and from_numpy take a capsule / numpy array (constant data, like nd.array),
# and exporting a traced array concretizes it (a guard: a new value retraces, never a frozen
# buffer). Each runs in a round trip through jit instead (test_interchange_through_jit).
INTERCHANGE = {
    "to_dlpack_for_read": lambda x: nd.from_dlpack(nd.to_dlpack_for_read(x)) * 2.0,
    "from_dlpack": lambda x: nd.from_dlpack(nd.to_dlpack_for_read(x * 3.0)) + x,
    "to_dlpack_for_write": lambda x: _write_through_dlpack(x * 1.0),
    "from_numpy": lambda x: nd.from_numpy(x.asnumpy()) * x,
}


def _write_through_dlpack(y):
    np.from_dlpack(nd.from_dlpack(nd.to_dlpack_for_write(y)))[0] = 5.0
    return y * 2.0


def public_functions():
    return sorted(n for n in dir(nd) if not n.startswith("_")
                  and callable(getattr(nd, n)) and not inspect.isclass(getattr(nd, n))
                  and not inspect.ismodule(getattr(nd, n)))


def call_spec(name):
    if name in CALLS:
        return CALLS[name]
    if name in UNARY:
        return CALLS["unary"]
    if name in BINARY:
        return CALLS["binary"]
    if name in BROADCAST:
        return CALLS["broadcast"]
    raise AssertionError(f"no jit test row for nd.{name}: add it to CALLS")


# optimizer updates write their states in place: eager only, refused inside a trace
# (tests/api/test_nd_optimizer_ops.py covers them)
OPTIMIZER_UPDATES = {"sgd_update", "sgd_mom_update", "nag_mom_update", "adam_update",
                     "rmsprop_update", "rmspropalex_update", "ftrl_update", "signsgd_update",
                     "signum_update", "all_finite", "multi_all_finite", "multi_sum_sq",
                     "multi_lars", "reset_arrays", "mp_sgd_update", "mp_sgd_mom_update",
                     "mp_nag_mom_update", "multi_sgd_update", "multi_sgd_mom_update",
                     "multi_mp_sgd_update", "multi_mp_sgd_mom_update",
                     "preloaded_multi_sgd_update", "preloaded_multi_sgd_mom_update",
                     "preloaded_multi_mp_sgd_update", "preloaded_multi_mp_sgd_mom_update",
                     "ftml_update", "lamb_update_phase1", "lamb_update_phase2",
                     "mp_lamb_update_phase1", "mp_lamb_update_phase2"}


# legacy functions that write their `out` argument in place: eager only, refused inside a
# trace (tests/api/test_nd_legacy_fill_onehot.py covers them)
WRITES_ITS_ARGUMENT = {"onehot_encode"}


# a Python custom operator (operator.py) needs a fresh instance per call: under jit its
# signature runs eagerly, with a warning (tests/api/test_custom_operator.py compares them)
PYTHON_OPERATORS = {"Custom"}


def _elsewhere(name):
    return (name in NO_ARRAY_INPUT or name in RANDOM or name in INTERCHANGE
            or name in OPTIMIZER_UPDATES or name in PYTHON_OPERATORS
            or name in WRITES_ITS_ARGUMENT)


def test_every_public_function_has_a_row():
    missing = [n for n in public_functions() if not _elsewhere(n) and n not in CALLS
               and n not in UNARY and n not in BINARY and n not in BROADCAST]
    assert not missing, f"add jit test rows for nd.{missing}"
    stale = [n for n in set(CALLS) | set(RANDOM) | set(INTERCHANGE)
             if n not in ("unary", "binary", "broadcast") and n not in public_functions()
             and not n.startswith("random.")]
    assert not stale, f"rows for names nd no longer has: {stale}"
    draws = {n for n in dir(nd.random) if not n.startswith("_") and inspect.isfunction(
        getattr(nd.random, n))} - RANDOM_HELPERS
    assert draws == {n[len("random."):] for n in RANDOM if n.startswith("random.")}


def _nd(data):
    if isinstance(data, list):
        return [nd.array(d, dtype=d.dtype) for d in data]
    return nd.array(data, dtype=data.dtype)


def _flat(out):
    if isinstance(out, (list, tuple)):
        return [o.asnumpy() for o in out]
    return [out.asnumpy()]


def _run(fn, make, kwargs):
    first, second = make(), make()
    if fn is nd.Dropout:
        mx.random.seed(3)
    compiled = mx.jit(lambda *xs: fn(*xs, **kwargs))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a graph break would hide a frozen value
        compiled(*[_nd(a) for a in first])
        if fn is nd.Dropout:
            mx.random.seed(4)
        got = compiled(*[_nd(a) for a in second])
    if fn is nd.Dropout:
        mx.random.seed(4)
    want = fn(*[_nd(a) for a in second], **kwargs)
    assert len(_flat(got)) == len(_flat(want))
    for g, w in zip(_flat(got), _flat(want)):
        assert g.dtype == w.dtype and g.shape == w.shape
        assert np.isfinite(w).all(), "inputs outside the function's domain: fix the row"
        np.testing.assert_allclose(g, w, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in public_functions() if not _elsewhere(n)])
def test_function_through_jit_on_a_second_input(name):
    make, kwargs, _ = call_spec(name)
    _run(getattr(nd, name), make, kwargs)


@pytest.mark.parametrize("label", sorted(VARIANTS))
def test_variant_through_jit_on_a_second_input(label):
    name, make, kwargs = VARIANTS[label]
    _run(getattr(nd, name), make, kwargs)


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_function_through_jit(name):
    """Under one seed the compiled call draws what eager draws; called again it draws afresh
    (a key frozen into the trace would repeat the first call's numbers)."""
    step = RANDOM[name]
    compiled = mx.jit(step)
    first, second = _nd(f32(3, 4)), _nd(f32(3, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mx.random.seed(3)
        compiled(first)
        mx.random.seed(4)
        got = _flat(compiled(second))
        again = _flat(compiled(second))
    mx.random.seed(4)
    want = _flat(step(second))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=2e-6, atol=1e-6)
    assert not np.array_equal(again[0], got[0])


@pytest.mark.parametrize("name", sorted(INTERCHANGE))
def test_interchange_through_jit(name):
    _run(INTERCHANGE[name], X, {})


# methods with no nd function of their name: their calls (slice_assign writes in place)
METHOD_CALLS = {
    "slice_assign": (lambda: [f32(3, 4), f32(1, 2)], {"begin": (0, 1), "end": (1, 3)}, ()),
    "slice_assign_scalar": (X, {"scalar": 2.5, "begin": (1, 0), "end": (3, 2)}, ()),
    "tostype": (X, {"stype": "default"}, ()),
}


@pytest.mark.parametrize("name", sorted(nd._METHODS))
def test_method_through_jit_on_a_second_input(name):
    if name in INTERCHANGE:     # x.to_dlpack_for_read(): a capsule, read back by from_dlpack
        return _run(lambda x: nd.from_dlpack(getattr(x * 1.0, name)()) * 2.0, X, {})
    if name in METHOD_CALLS:
        make, kwargs, _ = METHOD_CALLS[name]
        return _run(lambda x, *rest, **kw: getattr(x * 1.0, name)(*rest, **kw) * 1.0, make,
                    kwargs)
    fn = getattr(nd, name, None) if name != "as_np_ndarray" else None
    spec = CALLS.get(name) or (call_spec(name) if fn is not None else (X, {}, ()))
    make, kwargs, _ = spec
    method = lambda x, *rest, **kw: getattr(x, name)(*rest, **kw)  # noqa: E731
    _run(method, make, kwargs)


OPERATORS = {
    "add": lambda a, b: a + b, "radd": lambda a, b: 2.0 + b, "sub": lambda a, b: a - b,
    "rsub": lambda a, b: 2.0 - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
    "rdiv": lambda a, b: 2.0 / b, "mod": lambda a, b: a % b, "rmod": lambda a, b: 5.0 % b,
    "pow": lambda a, b: a ** b, "rpow": lambda a, b: 2.0 ** b, "neg": lambda a, b: -a,
    "abs": lambda a, b: abs(a), "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b, "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b, "getitem": lambda a, b: a[1:, ::2] + b[0, ::2],
    "T": lambda a, b: a.T, "copy": lambda a, b: a.copy(), "astype": lambda a, b: a.astype("f8"),
    "iadd": lambda a, b: _inplace(a, b, "__iadd__"),
    "isub": lambda a, b: _inplace(a, b, "__isub__"),
    "imul": lambda a, b: _inplace(a, b, "__imul__"),
    "idiv": lambda a, b: _inplace(a, b, "__itruediv__"),
    "imod": lambda a, b: _inplace(a, b, "__imod__"),
    "setitem": lambda a, b: _setitem(a, b),
}


def _inplace(a, b, method):
    y = a * 1.0
    getattr(y, method)(b)
    return y


def _setitem(a, b):
    y = nd.ones((3, 4))
    y[1] = b[0]
    y[:, 2] = a[:, 1]
    return y


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_operator_through_jit_on_a_second_input(name):
    _run(OPERATORS[name], XY, {})


def test_batchnorm_training_updates_its_moving_statistics_through_jit():
    """nd.BatchNorm in training writes moving_mean/moving_var in place (assign_state): every
    compiled call must read and write their current values (the update was once
    m * running + ..., and m * running, an op on a closure array alone, was frozen into the
    trace). The statistics are closure arrays here: a state update of an array passed as a
    jit argument is lost after the first call, a jit bug reported separately."""
    data = [f32(2, 3, 4) for _ in range(3)]
    gamma, beta, mean0, var0 = f32(3), f32(3), f32(3), f32(3)

    def model():
        stats = [_nd(mean0), _nd(var0)]

        def step(x):
            with mx.autograd.train_mode():
                return nd.BatchNorm(x, _nd(gamma), _nd(beta), *stats, fix_gamma=False,
                                    momentum=0.8)
        return step, stats

    eager, eager_stats = model()
    step, stats = model()
    compiled = mx.jit(step)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for x in data:      # (float32 means and variances summed in another order: a few
            got, want = compiled(_nd(x)), eager(_nd(x))     # ulp; frozen statistics: O(1))
            np.testing.assert_allclose(got.asnumpy(), want.asnumpy(), rtol=1e-5, atol=1e-5)
            for s, e in zip(stats, eager_stats):
                np.testing.assert_allclose(s.asnumpy(), e.asnumpy(), rtol=1e-5, atol=1e-5)
    assert not np.allclose(stats[0].asnumpy(), mean0)
