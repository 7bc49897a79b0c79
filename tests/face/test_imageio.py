"""Image loading: every input type and every bad input named in issue 2."""
from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from emorec.errors import InputError
from emorec.face import imageio
from emorec.face.imageio import decode_bytes, from_array, load_image


def gradient(h: int = 64, w: int = 80) -> np.ndarray:
    """A BGR image whose three channels differ, so channel order mistakes show."""
    y, x = np.mgrid[0:h, 0:w]
    b = (x * 255 // max(1, w - 1)).astype(np.uint8)
    g = (y * 255 // max(1, h - 1)).astype(np.uint8)
    r = np.full((h, w), 200, np.uint8)
    return np.dstack([b, g, r])


def write(path: Path, image: np.ndarray, *params) -> Path:
    assert cv2.imwrite(str(path), image, list(params))
    return path


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height; there is almost no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


# -- good inputs -------------------------------------------------------------------------------------


def test_path_bytes_array_and_pil_give_the_same_pixels(tmp_path):
    img = gradient()
    path = write(tmp_path / "g.png", img)
    from_path = load_image(path)
    assert from_path.shape == (64, 80, 3) and from_path.dtype == np.uint8
    np.testing.assert_array_equal(from_path, img)
    np.testing.assert_array_equal(load_image(path.read_bytes()), img)
    np.testing.assert_array_equal(load_image(str(path)), img)
    np.testing.assert_array_equal(load_image(img), img)
    np.testing.assert_array_equal(load_image(Image.open(path)), img)  # PIL is RGB, result is BGR
    np.testing.assert_array_equal(load_image(img[:, :, ::-1], color_order="rgb"), img)


def test_gray_mode_matches_opencv_conversion(tmp_path):
    img = gradient()
    path = write(tmp_path / "g.png", img)
    expected = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    for source in (path, path.read_bytes(), img, Image.open(path)):
        gray = load_image(source, mode="gray")
        assert gray.shape == (64, 80) and gray.dtype == np.uint8
        assert np.abs(gray.astype(int) - expected).max() <= 1


def test_grayscale_file_gives_three_equal_channels(tmp_path):
    gray = gradient()[:, :, 0]
    path = write(tmp_path / "gray.png", gray)
    bgr = load_image(path)
    assert bgr.shape == (64, 80, 3)
    for c in range(3):
        np.testing.assert_array_equal(bgr[:, :, c], gray)
    np.testing.assert_array_equal(load_image(path, mode="gray"), gray)


@pytest.mark.parametrize("channels", [1, 3])
def test_16_bit_png_is_scaled_not_clipped(tmp_path, channels):
    ramp = np.linspace(0, 65535, 64 * 80).reshape(64, 80).astype(np.uint16)
    img = ramp if channels == 1 else np.dstack([ramp] * 3)
    path = write(tmp_path / "deep.png", img)
    gray = load_image(path, mode="gray")
    assert gray.dtype == np.uint8
    assert gray.min() == 0 and gray.max() == 255
    assert 100 < gray.mean() < 155  # a ramp, not a saturated white image


def test_16_bit_pil_image_and_array(tmp_path):
    ramp = np.linspace(0, 65535, 64 * 80).reshape(64, 80).astype(np.uint16)
    pil = Image.fromarray(ramp)
    assert pil.mode.startswith("I;16")
    gray = load_image(pil, mode="gray")
    assert gray.max() == 255 and 100 < gray.mean() < 155
    np.testing.assert_array_equal(load_image(ramp, mode="gray"), gray)


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[:, :32, :3] = 0
    rgba[:, :32, 3] = 255  # left half opaque black, right half fully transparent
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba).save(path)
    gray = load_image(path, mode="gray")
    assert gray[:, :32].max() == 0
    assert gray[:, 32:].min() == 255
    bgra = np.dstack([np.zeros((64, 64, 3), np.uint8), np.full((64, 64), 0, np.uint8)])
    assert load_image(bgra, mode="gray").min() == 255  # arrays too


def test_palette_and_transparent_palette_images(tmp_path):
    rgb = Image.fromarray(gradient()[:, :, ::-1].copy())
    gif = tmp_path / "pal.gif"
    rgb.convert("P").save(gif)
    assert load_image(gif).shape == (64, 80, 3)
    pal = rgb.convert("P")
    pal.info["transparency"] = 0
    tpng = tmp_path / "tpal.png"
    pal.save(tpng, transparency=0)
    assert load_image(tpng, mode="gray").shape == (64, 80)


def test_exif_orientation_is_applied(tmp_path):
    img = Image.fromarray(gradient(64, 128)[:, :, ::-1].copy())  # wide
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    path = tmp_path / "rot.jpg"
    img.save(path, exif=exif.tobytes())
    assert load_image(path).shape[:2] == (128, 64)
    assert load_image(path, mode="gray").shape == (128, 64)
    assert load_image(Image.open(path)).shape[:2] == (128, 64)


@pytest.mark.parametrize("ext", [".jpg", ".png", ".bmp", ".tif", ".webp"])
def test_common_formats(tmp_path, ext):
    path = write(tmp_path / f"img{ext}", gradient())
    assert load_image(path).shape == (64, 80, 3)


@pytest.mark.parametrize(
    "array",
    [
        np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64),
        np.linspace(0, 255, 64 * 64).reshape(64, 64),
        np.ones((64, 64), bool),
        np.full((64, 64, 1), 7, np.uint8),
        np.full((64, 64), 1000, np.int32),
    ],
    ids=["float01", "float255", "bool", "hw1", "int32"],
)
def test_array_types(array):
    out = from_array(array, mode="gray")
    assert out.dtype == np.uint8 and out.shape == (64, 64)


def test_jpeg_with_data_after_the_end_marker_still_loads(tmp_path):
    data = cv2.imencode(".jpg", gradient())[1].tobytes() + b"extra trailer bytes, e.g. a motion photo"
    assert load_image(data).shape == (64, 80, 3)


# -- bad inputs ----------------------------------------------------------------------------------------


def one_line_error(excinfo, *fragments: str) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_missing_file(tmp_path):
    with pytest.raises(InputError) as e:
        load_image(tmp_path / "nope.jpg")
    one_line_error(e, "nope.jpg", "not found")


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(InputError) as e:
        load_image(tmp_path)
    one_line_error(e, str(tmp_path), "folder")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(InputError) as e:
        load_image(path)
    one_line_error(e, "empty.jpg", "empty")


def test_unreadable_file(tmp_path, monkeypatch):
    path = write(tmp_path / "locked.png", gradient())

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    # chmod 000 does not stop root, so simulate the OS refusing to open the file.
    import emorec.inputs

    monkeypatch.setattr(emorec.inputs.os, "open", denied)
    with pytest.raises(InputError) as e:
        load_image(path)
    one_line_error(e, "locked.png", "permission denied")


@pytest.mark.parametrize(
    "payload",
    [b"this is a text file, not a picture\n" * 10, b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + b"0" * 200, bytes(range(256)) * 4],
    ids=["text", "pdf", "binary"],
)
def test_non_image_file(tmp_path, payload):
    path = tmp_path / "fake.jpg"
    path.write_bytes(payload)
    with pytest.raises(InputError) as e:
        load_image(path)
    one_line_error(e, "fake.jpg", "not an image")


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_truncated_file(tmp_path, ext):
    rng = np.random.default_rng(1)
    noisy = rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)  # incompressible: truncation hits pixel data
    data = cv2.imencode(ext, noisy)[1].tobytes()
    path = tmp_path / f"cut{ext}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as e:
        load_image(path)
    one_line_error(e, f"cut{ext}", "truncated")


def test_tiny_image(tmp_path):
    path = write(tmp_path / "tiny.png", np.zeros((10, 12, 3), np.uint8))
    with pytest.raises(InputError) as e:
        load_image(path)
    one_line_error(e, "tiny.png", "12x10", "too small")
    with pytest.raises(InputError, match="too small"):
        load_image(np.zeros((8, 100), np.uint8))
    assert load_image(np.zeros((16, 16), np.uint8)).shape == (16, 16, 3)  # the limit itself is fine


def test_huge_image_is_refused_from_its_header_without_decoding(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(png_header_only(20_000, 15_000))  # 300 MP claimed, ~100 bytes on disk
    start = time.perf_counter()
    with pytest.raises(InputError) as e:
        load_image(path)
    assert time.perf_counter() - start < 1.0
    one_line_error(e, "huge.png", "300.0 MP", "downscale")
    path.write_bytes(png_header_only(10_000, 6_000))  # 60 MP: over our limit, under PIL's own
    with pytest.raises(InputError) as e:
        load_image(path)
    one_line_error(e, "huge.png", "10000x6000", "60.0 MP", "50 MP limit", "--max-megapixels")


def test_pixel_limit_is_configurable(tmp_path):
    path = write(tmp_path / "photo.png", gradient(200, 300))
    with pytest.raises(InputError) as e:
        load_image(path, max_pixels=50_000)
    one_line_error(e, "photo.png", "300x200", "0.05 MP limit")
    assert load_image(path, max_pixels=60_000).shape == (200, 300, 3)
    with pytest.raises(InputError, match="MP limit"):
        load_image(gradient(200, 300), max_pixels=50_000)
    with pytest.raises(InputError, match="MP limit"):
        load_image(Image.new("RGB", (300, 200)), max_pixels=50_000)


def test_default_limit_is_50_megapixels():
    assert imageio.DEFAULT_MAX_PIXELS == 50_000_000
    just_over = png_header_only(10_000, 5_001)
    with pytest.raises(InputError, match="50 MP limit"):
        decode_bytes(just_over)


@pytest.mark.parametrize(
    "array, fragment",
    [
        (np.zeros((64, 64, 2), np.uint8), "not an image"),
        (np.zeros((4, 64, 64, 3), np.uint8), "not an image"),
        (np.zeros((0, 64), np.uint8), "empty"),
        (np.full((64, 64), np.nan, np.float32), "NaN"),
        (np.zeros((64, 64), np.complex64), "unsupported pixel type"),
    ],
    ids=["2ch", "4d", "empty", "nan", "complex"],
)
def test_bad_arrays(array, fragment):
    with pytest.raises(InputError) as e:
        load_image(array)
    one_line_error(e, fragment)


def test_unsupported_source_type():
    with pytest.raises(InputError) as e:
        load_image(12345)
    one_line_error(e, "int", "file path")


def test_empty_bytes():
    with pytest.raises(InputError, match="0 bytes"):
        load_image(b"")
