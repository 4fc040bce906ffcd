"""mx.np's functions that are numpy's own (MXNet 1.9's numpy/fallback.py; mx.np.fallback and
mx.np.<name> where mx.np has no implementation of its own): called on mx.np arrays they run
numpy's code on the data and give mx.np arrays (dispatch.py); they record no gradient.
Names numpy 2 removed (alltrue, in1d, msort, trapz, the financial functions) are left out."""
import numpy as _onp

_NAMES = """
    allclose alltrue apply_along_axis apply_over_axes argpartition argwhere array_equal
    array_equiv choose compress corrcoef correlate count_nonzero cov digitize divmod extract
    flatnonzero float_power frexp heaviside histogram2d histogram_bin_edges histogramdd i0
    in1d interp intersect1d isclose isin ix_ lexsort min_scalar_type mirr modf msort
    nanargmax nanargmin nancumprod nancumsum nanmax nanmedian nanmin nanpercentile nanprod
    nanquantile ndim npv partition piecewise packbits poly polyadd polydiv polyfit polyint
    polymul polysub positive ppmt promote_types ptp pv rate real result_type rollaxis roots
    searchsorted select setdiff1d setxor1d signbit size spacing take_along_axis trapz
    tril_indices_from trim_zeros triu_indices_from union1d unpackbits unwrap vander""".split()

__all__ = [n for n in _NAMES if hasattr(_onp, n)]
for _name in __all__:
    globals()[_name] = getattr(_onp, _name)
