"""gluon.utils: split_data / split_and_load and clip_global_norm against MXNet 1.x semantics."""
import warnings

import numpy as np
import pytest

import tracegrad as mx
from tracegrad import gluon, nd
from tracegrad.gluon.utils import clip_global_norm, split_and_load, split_data


def test_split_even_and_uneven():
    x = nd.arange(14).reshape((7, 2))
    parts = split_data(x, 3, even_split=False)  # the first 7 % 3 slices get one extra row
    assert [p.shape[0] for p in parts] == [3, 2, 2]
    np.testing.assert_array_equal(np.concatenate([p.asnumpy() for p in parts]), x.asnumpy())
    with pytest.raises(ValueError, match="evenly split"):
        split_data(x, 3)
    cols = split_data(nd.arange(12).reshape((2, 6)), 3, batch_axis=1)
    assert [c.shape for c in cols] == [(2, 2)] * 3
    np.testing.assert_array_equal(cols[2].asnumpy(), [[4, 5], [10, 11]])


def test_split_and_load():
    data = np.arange(8, dtype=np.float64).reshape(4, 2)
    (one,) = split_and_load(data, [mx.cpu()])
    assert one.dtype == np.float32 and one.shape == (4, 2)  # numpy in: nd.array's float32
    two = split_and_load(nd.array(data), [mx.cpu(0), mx.cpu(1)])
    assert [t.shape for t in two] == [(2, 2), (2, 2)]
    np.testing.assert_array_equal(two[1].asnumpy(), data[2:])


def test_clip_global_norm_scales_in_place_and_returns_the_norm():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(5)
    arrays = [nd.array(a), nd.array(b)]
    norm = np.sqrt((a ** 2).sum() + (b ** 2).sum())
    got = clip_global_norm(arrays, 1.0)
    assert isinstance(got, (float, np.floating)) and got == pytest.approx(norm, rel=1e-6)
    scale = 1.0 / (norm + 1e-8)
    np.testing.assert_allclose(arrays[0].asnumpy(), a * scale, rtol=1e-5)
    np.testing.assert_allclose(arrays[1].asnumpy(), b * scale, rtol=1e-5)
    small = [nd.array(a)]
    clip_global_norm(small, 1e6)  # below the bound: unchanged
    np.testing.assert_allclose(small[0].asnumpy(), a, rtol=1e-6)
    lazy = clip_global_norm([nd.array(a)], 1.0, check_isfinite=False)
    assert isinstance(lazy, nd.NDArray)
    np.testing.assert_allclose(lazy.asnumpy(), [np.sqrt((a ** 2).sum())], rtol=1e-6)


def test_clip_global_norm_warns_on_nan_and_clips_gradients_of_a_net():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        clip_global_norm([nd.array([np.nan, 1.0])], 1.0)
    assert any("nan or inf" in str(x.message) for x in w)
    net = gluon.nn.Dense(2, in_units=3)
    net.initialize()
    x = nd.array(np.full((4, 3), 10.0))
    with mx.autograd.record():
        loss = net(x).sum()
    loss.backward()
    grads = [p.grad() for p in net.collect_params().values()]
    clip_global_norm(grads, 0.5)
    total = np.sqrt(sum((g.asnumpy().astype(np.float64) ** 2).sum() for g in grads))
    assert total == pytest.approx(0.5, rel=1e-5)


def test_check_sha1_and_download_from_a_file_url(tmp_path):
    import hashlib
    src = tmp_path / "src" / "data.bin"
    src.parent.mkdir()
    src.write_bytes(b"tracegrad" * 100)
    digest = hashlib.sha1(src.read_bytes()).hexdigest()
    assert gluon.utils.check_sha1(str(src), digest)
    assert not gluon.utils.check_sha1(str(src), "0" * 40)
    dest = tmp_path / "out"
    dest.mkdir()
    got = gluon.utils.download(src.as_uri(), path=str(dest), sha1_hash=digest)
    assert got == str(dest / "data.bin") and (dest / "data.bin").read_bytes() == src.read_bytes()
    src.write_bytes(b"changed")
    assert gluon.utils.download(src.as_uri(), path=str(dest), sha1_hash=digest) == got  # kept
    with pytest.raises(UserWarning, match="SHA-1"):
        gluon.utils.download(src.as_uri(), path=str(dest / "new.bin"), sha1_hash=digest,
                             retries=0)
    assert not (dest / "new.bin").exists()
    assert not [p for p in dest.iterdir() if p.name.startswith(".download-")]


def test_clip_global_norm_graph_and_buffer_paths_agree():
    rng = np.random.default_rng(2)
    data = [rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal(7).astype(
        np.float32)]
    plain = [nd.array(d) for d in data]
    tracked = [nd.array(d) for d in data]
    for t in tracked:
        t.attach_grad()  # a graph variable: takes the NDArray path
    n1, n2 = clip_global_norm(plain, 0.5), clip_global_norm(tracked, 0.5)
    assert n1 == pytest.approx(n2, rel=1e-6)
    for p, t in zip(plain, tracked):
        np.testing.assert_allclose(p.asnumpy(), t.asnumpy(), rtol=1e-6)
    lazy = clip_global_norm([nd.array(d) for d in data], 0.5, check_isfinite=False)
    assert isinstance(lazy, nd.NDArray) and lazy.shape == (1,)
