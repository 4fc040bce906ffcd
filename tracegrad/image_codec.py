"""Image decoding and encoding with Pillow, standing in for the OpenCV that MXNet links.

Pixels come out as OpenCV gives them to MXNet: 8-bit, colour images with 3 channels (alpha
dropped, palettes and grey expanded, 16-bit samples cut to their high byte), greyscale ones
with 1. Greyscale from colour is what OpenCV's decoder produces: a JPEG's luma plane as libjpeg
decodes it, libpng's fixed-point rgb_to_gray for PNG (truncating weights 9797, 19234, 3737 over
2**15), cv::cvtColor's weights for other formats. PNG pixels are therefore exact; JPEG pixels
come from Pillow's libjpeg and can differ from OpenCV's build by a few levels. EXIF orientation
is ignored, as MXNet's imdecode does for JPEG and PNG.

Bytes are untrusted: only the formats OpenCV reads are opened (no EPS or other format that
runs a helper program), Pillow's decompression-bomb limit stands, and any failure to decode is
one MXNetError naming the source, never a Pillow exception.
"""
import io

import numpy as np

from .base import MXNetError

__all__ = ["decode", "encode"]

# formats OpenCV's imdecode reads that Pillow also reads (GIF, EPS, ... are refused)
_FORMATS = ("JPEG", "PNG", "BMP", "PPM", "TIFF", "WEBP")
_PNG_GRAY = (9797, 19234, 3737, 15)      # libpng's png_set_rgb_to_gray(0.299, 0.587), truncated
_CV_GRAY = (4899, 9617, 1868, 14)        # cv::cvtColor BGR2GRAY, rounded


def pillow(who):
    """PIL.Image, imported only when an image is decoded or encoded (Pillow is optional)."""
    try:
        from PIL import Image
    except ImportError:
        raise MXNetError(f"{who}: decoding and encoding images needs Pillow "
                         f"(pip install pillow, or pip install 'tracegrad[image]')") from None
    return Image


def _gray(rgb, weights):
    r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
    wr, wg, wb, shift = weights
    rounding = 0 if weights is _PNG_GRAY else 1 << (shift - 1)
    return ((wr * r + wg * g + wb * b + rounding) >> shift).astype(np.uint8)


def _eight_bit(im):
    """A 16/32-bit or float single-channel image as uint8 (the high byte, as OpenCV)."""
    a = np.asarray(im)
    if a.dtype.kind == "f":
        return np.clip(a, 0, 255).astype(np.uint8)
    return (a.astype(np.int64) >> 8 if a.max(initial=0) > 255 or im.mode.startswith("I;16")
            else a).clip(0, 255).astype(np.uint8)


def _pixels(im, mode):
    """uint8 pixels of an opened image: mode 'color' (H, W, 3) RGB, 'gray' (H, W), or
    'unchanged' (channels as stored, RGB(A) order, 16-bit kept)."""
    if mode == "unchanged":
        if im.mode in ("1", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
            has_alpha = "transparency" in im.info or im.mode == "PA"
            im = im.convert("RGBA" if has_alpha else ("L" if im.mode == "1" else "RGB"))
        if im.mode == "LA":
            im = im.convert("RGBA")
        if im.mode.startswith("I;16"):
            return np.asarray(im).astype(np.uint16)
        if im.mode in ("I", "F"):
            return _eight_bit(im)
        return np.asarray(im)
    if im.mode.startswith("I") or im.mode == "F":
        g = _eight_bit(im)
        return g if mode == "gray" else np.repeat(g[..., None], 3, axis=2)
    if mode == "gray":
        if im.mode in ("L", "1", "LA"):
            return np.asarray(im.convert("L"))
        rgb = np.asarray(im.convert("RGB"))
        return _gray(rgb, _PNG_GRAY if im.format == "PNG" else _CV_GRAY)
    return np.asarray(im.convert("RGB"))


def decode(data, mode, what, who):
    """uint8 (or, unchanged, uint16) pixels of encoded image bytes; see _pixels for `mode`.
    `what` names the bytes' source in errors."""
    Image = pillow(who)
    if not data:
        raise MXNetError(f"{who}: {what} is empty, not an image")
    try:
        with Image.open(io.BytesIO(bytes(data)), formats=_FORMATS) as im:
            if mode == "gray" and im.format == "JPEG" and im.mode in ("RGB", "YCbCr"):
                im.draft("L", None)      # libjpeg's luma plane, as OpenCV asks libjpeg for
            im.load()
            out = _pixels(im, mode)
    except MXNetError:
        raise
    except Exception as e:  # noqa: BLE001 - Pillow raises many kinds for corrupt data
        reason = f"not a {', '.join(_FORMATS)} image" \
            if isinstance(e, Image.UnidentifiedImageError) else f"{type(e).__name__}: {e}"
        raise MXNetError(f"{who}: decoding failed, {what} is not a valid image "
                         f"({reason})") from None
    return np.ascontiguousarray(out)


def encode(img, fmt, quality, who):
    """Bytes of an image encoded as fmt ('.jpg'/'.jpeg' or '.png'); img is HWC in OpenCV's
    channel order (BGR / BGRA) or HW greyscale. quality: JPEG 1-100, PNG compression 0-9."""
    Image = pillow(who)
    fmt_u = str(fmt).upper()
    kind = {".JPG": "JPEG", ".JPEG": "JPEG", ".PNG": "PNG"}.get(fmt_u)
    if kind is None:
        raise MXNetError(f"{who}: image format {fmt!r} is not supported; use '.jpg' or '.png'")
    a = np.asarray(img.asnumpy() if hasattr(img, "asnumpy") else img)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or a.size == 0:
        raise MXNetError(f"{who}: an image must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), "
                         f"got shape {a.shape}")
    if a.dtype == np.uint16 and a.ndim == 2 and kind == "PNG":
        pil = Image.fromarray(a)                      # mode I;16
    elif a.dtype != np.uint8:
        raise MXNetError(f"{who}: an image must be uint8 (or 2-D uint16 for PNG), got "
                         f"{a.dtype}")
    elif a.ndim == 2:
        pil = Image.fromarray(a)
    else:
        if a.shape[2] == 4 and kind == "JPEG":
            a = a[:, :, :3]                           # JPEG has no alpha
        pil = Image.fromarray(np.ascontiguousarray(a[:, :, [2, 1, 0, 3][:a.shape[2]]]))
    buf = io.BytesIO()
    if kind == "JPEG":
        pil.save(buf, "JPEG", quality=int(min(max(quality, 1), 100)))
    else:
        pil.save(buf, "PNG", compress_level=int(min(max(quality, 0), 9)))
    return buf.getvalue()
