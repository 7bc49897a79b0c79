"""Load images for face inference from a path, bytes, a numpy array or a PIL image.

Every failure is an :class:`~emorec.errors.InputError` with one line that
names the file and says what to do. Sizes are checked from the file header
before anything is decoded, so a 20,000 x 20,000 PNG costs nothing to refuse.

Returned arrays are uint8 in OpenCV order: ``(H, W)`` grayscale or
``(H, W, 3)`` BGR. Numpy arrays given by the caller are taken as OpenCV BGR
(or BGRA) unless ``color_order="rgb"``.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

import numpy as np

from emorec.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image as PILImage

DEFAULT_MAX_PIXELS = 50_000_000
MIN_SIDE = 16

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".pnm"}
)
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv"})

Mode = Literal["bgr", "gray"]
ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, np.ndarray, "PILImage.Image"]

_JPEG_END = b"\xff\xd9"
_PNG_END = b"IEND\xaeB`\x82"
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


def is_image_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def is_video_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def describe(source: Any, name: str | None = None) -> str:
    """A short name for messages: the path, or what kind of object was given."""
    if name:
        return name
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<image bytes>"
    if isinstance(source, np.ndarray):
        return "<numpy array>"
    return f"<{type(source).__name__}>"


def load_image(
    source: ImageSource,
    *,
    mode: Mode = "bgr",
    name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = MIN_SIDE,
    color_order: Literal["bgr", "rgb"] = "bgr",
) -> np.ndarray:
    """Decode ``source`` to uint8 BGR ``(H, W, 3)`` or grayscale ``(H, W)`` (``mode="gray"``).

    Handles grayscale, RGBA (composited on white), palette, 16-bit and EXIF
    orientation. Raises InputError for missing, unreadable, empty, non-image,
    truncated, tiny (< ``min_side`` px) and huge (> ``max_pixels``) inputs.

    Example:
        >>> gray = load_image("examples/astronaut.jpg", mode="gray")
        >>> gray.shape
        (512, 512)
    """
    label = describe(source, name)
    if isinstance(source, (str, os.PathLike)):
        data = read_file(source, label)
        return decode_bytes(data, mode=mode, name=label, max_pixels=max_pixels, min_side=min_side)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return decode_bytes(bytes(source), mode=mode, name=label, max_pixels=max_pixels, min_side=min_side)
    if isinstance(source, np.ndarray):
        return from_array(source, mode=mode, name=label, max_pixels=max_pixels, min_side=min_side, color_order=color_order)
    if _is_pil_image(source):
        _check_size(source.size[0], source.size[1], label, max_pixels, min_side)
        return _from_pil(source, mode, label)
    raise InputError(
        f"{label}: cannot use a {type(source).__name__} as an image: pass a file path, bytes, "
        "a numpy array or a PIL image"
    )


def read_file(path: str | os.PathLike, label: str | None = None) -> bytes:
    """The file's bytes, or an InputError saying why they cannot be read.

    Only regular files are read (no /dev/zero, no FIFO), and the size is checked first.
    """
    from emorec.inputs import read_bytes

    label = label or str(path)
    data = read_bytes(path, label, what="image file")
    if not data:
        raise InputError(f"{label}: file is empty (0 bytes): re-export or re-download the image")
    return data


def decode_bytes(
    data: bytes,
    *,
    mode: Mode = "bgr",
    name: str = "<image bytes>",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = MIN_SIDE,
) -> np.ndarray:
    """Decode encoded image bytes (JPEG, PNG, ...) after checking the header's size."""
    return _decode(data, mode, name, max_pixels, min_side, None)[0]


def load_gray_reduced(
    source: ImageSource,
    *,
    keep_long_side: int | None,
    name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = MIN_SIDE,
    color_order: Literal["bgr", "rgb"] = "bgr",
    mode: Mode = "gray",
) -> tuple[np.ndarray, float, float]:
    """Grayscale (or BGR with ``mode="bgr"``) for face detection, decoding large JPEGs at 1/2, 1/4 or 1/8 size.

    libjpeg can skip most of the work of decoding a 12 MP photo when only a
    ~1000 px version is needed (DCT scaling), which is all a detector that
    works at a few hundred pixels needs. The reduced image keeps its longest
    side >= ``keep_long_side`` (None: never reduce). Returns ``(gray, sx, sy)``:
    original x = reduced x * sx (EXIF orientation applied to both).

    Example:
        >>> gray, sx, sy = load_gray_reduced("phone_photo.jpg", keep_long_side=800)
    """
    label = describe(source, name)
    if isinstance(source, (str, os.PathLike)):
        data = read_file(source, label)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        image = load_image(source, mode=mode, name=label, max_pixels=max_pixels, min_side=min_side, color_order=color_order)
        return image, 1.0, 1.0
    return _decode(data, mode, label, max_pixels, min_side, keep_long_side)


_REDUCED_GRAY_FLAGS = {2: "IMREAD_REDUCED_GRAYSCALE_2", 4: "IMREAD_REDUCED_GRAYSCALE_4", 8: "IMREAD_REDUCED_GRAYSCALE_8"}
_REDUCED_COLOR_FLAGS = {2: "IMREAD_REDUCED_COLOR_2", 4: "IMREAD_REDUCED_COLOR_4", 8: "IMREAD_REDUCED_COLOR_8"}


def _decode(
    data: bytes, mode: Mode, name: str, max_pixels: int, min_side: int, keep_long_side: int | None
) -> tuple[np.ndarray, float, float]:
    import cv2

    if not data:
        raise InputError(f"{name}: no image data (0 bytes): re-export or re-download the image")
    header = _open_header(data, name)
    width, height = header.size
    _check_size(width, height, name, max_pixels, min_side)
    fmt = (header.format or "").upper()
    # OpenCV decodes faster than PIL, and straight to gray; PIL handles
    # transparency, odd modes, truncation and anything OpenCV refuses.
    fast = header.mode not in _ALPHA_MODES and not (header.mode == "P" and "transparency" in header.info)
    if fmt == "JPEG" and not data.rstrip(b"\x00\r\n ").endswith(_JPEG_END):
        fast = False  # truncated, or extra data after the image: let PIL judge
    elif fmt == "PNG" and not data.endswith(_PNG_END):
        fast = False
    if fast:
        factor = 1
        if keep_long_side and fmt == "JPEG":
            while factor < 8 and max(width, height) // (factor * 2) >= keep_long_side:
                factor *= 2
        flags = _REDUCED_GRAY_FLAGS if mode == "gray" else _REDUCED_COLOR_FLAGS
        flag = getattr(cv2, flags[factor]) if factor > 1 else (cv2.IMREAD_GRAYSCALE if mode == "gray" else cv2.IMREAD_COLOR)
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flag)
        if image is not None and image.size:
            if factor == 1:
                return image, 1.0, 1.0
            # Original size as displayed: EXIF orientations 5-8 swap width and height.
            orientation = header.getexif().get(0x0112, 1) if fmt == "JPEG" else 1
            full_w, full_h = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
            return image, full_w / image.shape[1], full_h / image.shape[0]
    return _from_pil(header, mode, name), 1.0, 1.0


def from_array(
    array: np.ndarray,
    *,
    mode: Mode = "bgr",
    name: str = "<numpy array>",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = MIN_SIDE,
    color_order: Literal["bgr", "rgb"] = "bgr",
) -> np.ndarray:
    """Validate and convert a caller's array: gray/BGR/BGRA, uint8/uint16/float/bool."""
    import cv2

    img = np.asarray(array)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
        raise InputError(
            f"{name}: array of shape {img.shape} is not an image: use (H, W) gray, (H, W, 3) BGR or (H, W, 4) BGRA"
        )
    _check_size(img.shape[1], img.shape[0], name, max_pixels, min_side)
    img = to_uint8(img, name)
    if img.ndim == 3 and img.shape[2] == 4:
        img = composite_on_white(img)
    if img.ndim == 3 and color_order == "rgb":
        img = img[:, :, ::-1]
    if mode == "gray":
        return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(img)


def to_uint8(img: np.ndarray, name: str = "<numpy array>") -> np.ndarray:
    """uint8 from uint16 (scaled by 1/257), bool, or float in [0, 1] or [0, 255]."""
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.bool_:
        return img.astype(np.uint8) * 255
    if img.dtype == np.uint16:
        return ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if np.issubdtype(img.dtype, np.floating):
        if not np.isfinite(img).all():
            raise InputError(f"{name}: image contains NaN or infinite values: clean the array first")
        peak = float(img.max()) if img.size else 0.0
        scaled = img * 255.0 if peak <= 1.0 else img
        return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    if np.issubdtype(img.dtype, np.integer):
        peak = int(img.max()) if img.size else 0
        if peak > 255:  # wider integer images: assume the 16-bit range
            return np.clip((img.astype(np.int64) + 128) // 257, 0, 255).astype(np.uint8)
        return np.clip(img, 0, 255).astype(np.uint8)
    raise InputError(f"{name}: unsupported pixel type {img.dtype}: use uint8, uint16 or float")


def composite_on_white(bgra: np.ndarray) -> np.ndarray:
    """Blend a uint8 BGRA image over white, so transparent areas do not turn black."""
    alpha = bgra[:, :, 3:4].astype(np.float32) * (1.0 / 255.0)
    color = bgra[:, :, :3].astype(np.float32)
    out = color * alpha + 255.0 * (1.0 - alpha)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _is_pil_image(obj: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        return False
    return isinstance(obj, Image.Image)


def _open_header(data: bytes, name: str) -> PILImage.Image:
    """Open lazily with PIL: reads the header (format, mode, size) without decoding pixels."""
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        # PIL's own decompression-bomb guard is replaced by our max_pixels check.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            raise _bomb_error(name, exc) from None
        except UnidentifiedImageError:
            from emorec.inputs import declared_image_size

            size = declared_image_size(data)
            if size is not None and 0 in size:  # PIL cannot identify an image without pixels
                raise InputError(f"{name}: image is empty ({size[0]}x{size[1]} pixels): re-export the image") from None
            raise InputError(
                f"{name}: not an image file or an unsupported format: use JPEG, PNG, BMP, TIFF or WebP"
            ) from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise InputError(f"{name}: corrupt image header ({exc}): re-export the image") from None


def _bomb_error(name: str, exc: Exception) -> InputError:
    """PIL refused the header itself (over ~179 MP): same advice as our own limit."""
    import re

    found = re.search(r"\((\d+) pixels\)", str(exc))
    size = f"{int(found.group(1)) / 1e6:.1f} MP" if found else "far too large"
    return InputError(
        f"{name}: image is {size}, above the pixel limit: downscale it first (--max-megapixels cannot go this high)"
    )


def _check_size(width: int, height: int, name: str, max_pixels: int, min_side: int) -> None:
    if width <= 0 or height <= 0:
        raise InputError(f"{name}: image is empty ({width}x{height} pixels)")
    if max_pixels and width * height > max_pixels:
        raise InputError(
            f"{name}: image is {width}x{height} = {width * height / 1e6:.1f} MP, above the "
            f"{max_pixels / 1e6:g} MP limit: downscale it or raise the limit (--max-megapixels)"
        )
    if min(width, height) < min_side:
        raise InputError(
            f"{name}: image is only {width}x{height} pixels, too small for a face "
            f"(needs at least {min_side} px per side): use a larger image"
        )


def _from_pil(img: PILImage.Image, mode: Mode, name: str) -> np.ndarray:
    """Fully decode a PIL image (raising InputError if truncated/corrupt) and convert."""
    import cv2
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img.load()
            img = ImageOps.exif_transpose(img) or img
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        reason = "truncated" if "truncat" in str(exc).lower() else f"corrupt ({exc})"
        raise InputError(f"{name}: image data is {reason}: re-export or re-download the image") from None
    except Image.DecompressionBombError as exc:
        raise _bomb_error(name, exc) from None

    try:
        if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
            arr = to_uint8(np.asarray(img), name)
        elif img.mode in _ALPHA_MODES or (img.mode == "P" and "transparency" in img.info):
            rgba = np.asarray(img.convert("RGBA"))
            arr = composite_on_white(rgba[:, :, [2, 1, 0, 3]])  # RGBA -> BGRA, then onto white
            return cv2.cvtColor(arr, cv2.COLOR_BGR2GRAY) if mode == "gray" else arr
        elif img.mode in ("L", "1"):
            arr = np.asarray(img.convert("L"))
        else:
            arr = np.asarray(img.convert("RGB"))[:, :, ::-1]  # RGB -> BGR
    except (OSError, ValueError) as exc:
        raise InputError(f"{name}: cannot convert {img.mode} pixels ({exc}): save the image as RGB") from None
    if mode == "gray":
        return arr if arr.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_BGR2GRAY)
    if arr.ndim == 2:
        return cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(arr)
