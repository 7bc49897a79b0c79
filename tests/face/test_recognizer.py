"""FaceEmotionRecognizer on ONNX Runtime, with a synthetic model (and the shipped one if present)."""
from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from PIL import Image

from emorec.errors import InputError, ModelError
from emorec.face.crop import crop_detection
from emorec.face.preprocess import normalise, resize_face
from emorec.face.recognizer import FacePrediction, FaceEmotionRecognizer
from emorec.runtime import packaged_model, softmax

from emorec.testing import FER_LABELS, make_face_model

ASTRONAUT_FACE = (177, 66, 95, 95)


def check_prediction(face: FacePrediction, labels: list[str]) -> None:
    assert set(face.scores) == set(labels)
    assert abs(sum(face.scores.values()) - 1.0) < 1e-5
    assert all(0.0 <= p <= 1.0 for p in face.scores.values())
    assert face.label == max(face.scores, key=face.scores.get)
    assert face.score == pytest.approx(face.scores[face.label])
    assert len(face.box) == 4 and all(isinstance(v, int) for v in face.box)


def test_labels_and_card_come_from_the_model_card(recognizer):
    assert recognizer.labels == FER_LABELS
    assert recognizer.card.name == "tiny-synthetic-face"
    assert recognizer.input_size == (48, 48)


def test_predict_on_a_photo_path(recognizer, example_photo):
    faces = recognizer.predict(example_photo)
    assert len(faces) == 1
    check_prediction(faces[0], recognizer.labels)
    x, y, w, h = faces[0].box
    assert abs(x - ASTRONAUT_FACE[0]) < 15 and abs(y - ASTRONAUT_FACE[1]) < 15 and abs(w - ASTRONAUT_FACE[2]) < 20


def test_path_bytes_array_and_pil_agree(recognizer, example_photo):
    by_path = recognizer.predict(example_photo)
    by_str = recognizer.predict(str(example_photo))
    by_bytes = recognizer.predict(example_photo.read_bytes())
    by_array = recognizer.predict(cv2.imread(str(example_photo)))
    by_pil = recognizer.predict(Image.open(example_photo))
    by_rgb = recognizer.predict(np.asarray(Image.open(example_photo).convert("RGB")), color_order="rgb")
    for other in (by_str, by_bytes):
        assert other[0].box == by_path[0].box
        assert other[0].scores == pytest.approx(by_path[0].scores, abs=1e-6)
    # A decoded colour array is converted BGR -> gray, a file straight to libjpeg's luma:
    # the two differ by about a grey level, so compare loosely.
    for other in (by_array, by_pil, by_rgb):
        assert other[0].label == by_path[0].label
        assert other[0].scores == pytest.approx(by_path[0].scores, abs=0.02)


def test_to_dict_is_json_ready(recognizer, example_photo):
    face = recognizer.predict(example_photo)[0]
    d = json.loads(json.dumps(face.to_dict()))
    assert set(d) == {"box", "label", "score", "scores"}
    assert d["box"] == list(face.box)
    assert d["label"] == face.label
    assert abs(sum(d["scores"].values()) - 1) < 1e-4


def test_inference_equals_training_preprocessing(recognizer, face_model, example_photo):
    """Crop -> normalise -> ONNX -> softmax, done by hand, gives the recogniser's numbers."""
    import onnxruntime as ort

    gray = cv2.imread(str(example_photo), cv2.IMREAD_GRAYSCALE)
    found = recognizer.find_faces(gray)
    assert len(found.boxes) == 1
    expected_crop = crop_detection(gray, found.detections[0], recognizer.crop_spec)  # the card's crop definition
    np.testing.assert_array_equal(found.crops[0], expected_crop)
    session = ort.InferenceSession(str(face_model), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"input": normalise(expected_crop[None], recognizer.spec)})[0]
    expected = softmax(logits)[0]
    face = recognizer.predict(gray)[0]
    np.testing.assert_allclose([face.scores[k] for k in recognizer.labels], expected, rtol=1e-5, atol=1e-6)


def test_no_face_gives_an_empty_list(recognizer):
    assert recognizer.predict(np.full((240, 320, 3), 127, np.uint8)) == []
    noise = np.random.default_rng(0).integers(0, 256, (240, 320), dtype=np.uint8)
    assert recognizer.predict(noise) == []


def test_cropped_mode_classifies_the_whole_image(recognizer):
    rng = np.random.default_rng(3)
    crop = rng.integers(0, 256, (60, 50), dtype=np.uint8)
    faces = recognizer.predict(crop, cropped=True)
    assert len(faces) == 1
    assert faces[0].box == (0, 0, 50, 60)
    check_prediction(faces[0], recognizer.labels)
    probs = recognizer.classify_crops(resize_face(crop, recognizer.spec)[None])[0]
    np.testing.assert_allclose([faces[0].scores[k] for k in recognizer.labels], probs, rtol=1e-6)
    # A uniform image has no face for the detector, but cropped mode still answers.
    assert len(recognizer.predict(np.full((48, 48), 90, np.uint8), cropped=True)) == 1


def test_classify_crops_shapes_and_batching(recognizer):
    rng = np.random.default_rng(4)
    crops = rng.integers(0, 256, (37, 48, 48), dtype=np.uint8)
    probs = recognizer.classify_crops(crops)
    assert probs.shape == (37, 7) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(recognizer.classify_crops(crops, batch_size=5), probs, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(recognizer.classify_crops(crops[0]), probs[:1], rtol=1e-5, atol=1e-7)
    assert recognizer.classify_crops(np.zeros((0, 48, 48), np.uint8)).shape == (0, 7)
    assert len(set(map(int, probs.argmax(1)))) > 1  # the synthetic model does look at the pixels
    big = rng.integers(0, 256, (3, 96, 96), dtype=np.uint8)
    assert recognizer.classify_crops(big).shape == (3, 7)
    with pytest.raises(InputError, match=r"\(N, H, W\)"):
        recognizer.classify_crops(np.zeros((2, 48, 48, 3), np.uint8))


def test_predict_batch_matches_predict_and_uses_one_onnx_call(recognizer, example_photo, monkeypatch):
    head = cv2.imread(str(example_photo))[0:300, 100:350]
    pair = np.hstack([head, cv2.flip(head, 1)])  # two faces
    images = [example_photo, np.full((100, 100), 50, np.uint8), pair]
    singles = [recognizer.predict(img) for img in images]
    calls = []
    original = recognizer.model.run
    monkeypatch.setattr(recognizer.model, "run", lambda batch: calls.append(len(batch)) or original(batch))
    batch = recognizer.predict_batch(images)
    assert calls == [3]  # 1 + 0 + 2 faces classified in one call
    assert [len(r) for r in batch] == [1, 0, 2]
    for got, want in zip(batch, singles):
        assert [f.box for f in got] == [f.box for f in want]
        for g, w in zip(got, want):
            assert g.scores == pytest.approx(w.scores, abs=1e-6)


def test_predict_batch_goes_on_past_bad_images(recognizer, example_photo, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    with pytest.raises(InputError, match="bad.jpg"):
        recognizer.predict_batch([example_photo, bad])
    results = recognizer.predict_batch([bad, example_photo, tmp_path / "missing.png"], errors="return")
    assert isinstance(results[0], InputError) and "bad.jpg" in str(results[0])
    assert len(results[1]) == 1
    assert isinstance(results[2], InputError) and "not found" in str(results[2])


def test_bad_inputs_raise_input_error(recognizer, tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    for source, fragment in [
        (tmp_path / "missing.jpg", "not found"),
        (empty, "empty"),
        (np.zeros((8, 8), np.uint8), "too small"),
        (np.zeros((5000, 5000), np.uint8), "MP limit"),
    ]:
        rec = recognizer if fragment != "MP limit" else FaceEmotionRecognizer(recognizer.model.path, max_pixels=10_000_000)
        with pytest.raises(InputError, match=fragment):
            rec.predict(source)


def test_gray_rgba_and_16_bit_inputs(recognizer, example_photo):
    bgr = cv2.imread(str(example_photo))
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    bgra = np.dstack([bgr, np.full(gray.shape, 255, np.uint8)])
    deep = gray.astype(np.uint16) * 257
    # The default detector uses colour: BGRA must match BGR, the gray kinds must match gray.
    for image, reference in ((bgra, recognizer.predict(bgr)), (deep, recognizer.predict(gray)),
                             (gray[:, :, None], recognizer.predict(gray))):
        faces = recognizer.predict(image)
        assert [f.box for f in faces] == [f.box for f in reference]
        assert faces[0].scores == pytest.approx(reference[0].scores, abs=1e-6)


def test_recognizer_is_thread_safe(recognizer, example_photo):
    image = cv2.imread(str(example_photo))
    expected = recognizer.predict(image)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: recognizer.predict(image), range(16)))
    for faces in results:
        assert [f.box for f in faces] == [f.box for f in expected]
        assert faces[0].scores == pytest.approx(expected[0].scores, abs=1e-6)


def test_custom_detector_object(face_model):
    class Fixed:
        name = "fixed"

        def detect(self, gray):
            return [(10, 10, 30, 30), (40, 5, 20, 20)]

    rec = FaceEmotionRecognizer(face_model, detector=Fixed())
    faces = rec.predict(np.zeros((64, 64), np.uint8))
    assert [f.box for f in faces] == [(10, 10, 30, 30), (40, 5, 20, 20)]


def test_fixed_batch_model_and_probability_outputs(tmp_path):
    fixed = FaceEmotionRecognizer(make_face_model(tmp_path / "fixed.onnx", fixed_batch=4))
    loose = FaceEmotionRecognizer(make_face_model(tmp_path / "loose.onnx"))
    crops = np.random.default_rng(5).integers(0, 256, (9, 48, 48), dtype=np.uint8)
    np.testing.assert_allclose(fixed.classify_crops(crops), loose.classify_crops(crops), rtol=1e-5, atol=1e-7)
    assert fixed.classify_crops(crops[:1]).shape == (1, 7)
    soft = FaceEmotionRecognizer(make_face_model(tmp_path / "soft.onnx", softmax=True))
    np.testing.assert_allclose(soft.classify_crops(crops), loose.classify_crops(crops), rtol=1e-5, atol=1e-7)


def test_other_input_size_from_the_card(tmp_path, example_photo):
    rec = FaceEmotionRecognizer(make_face_model(tmp_path / "m64.onnx", size=(64, 56)))
    assert rec.input_size == (64, 56)
    found = rec.find_faces(example_photo)
    assert found.crops.shape == (1, 64, 56)
    check_prediction(rec.predict(example_photo)[0], rec.labels)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"n_outputs": 5}, "outputs 5 classes"),
        ({"task": "voice"}, "not a face model"),
        ({"input_spec": {"channels": 3}}, "1-channel"),
        ({"input_spec": {"size": [48]}}, "input.size"),
    ],
)
def test_inconsistent_models_are_model_errors(tmp_path, kwargs, fragment):
    path = make_face_model(tmp_path / "m.onnx", **kwargs)
    with pytest.raises(ModelError, match=fragment):
        FaceEmotionRecognizer(path)


def test_missing_model_or_card(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        FaceEmotionRecognizer(tmp_path / "none.onnx")
    path = make_face_model(tmp_path / "m.onnx")
    path.with_suffix(".json").unlink()
    with pytest.raises(ModelError, match="card"):
        FaceEmotionRecognizer(path)
    broken = make_face_model(tmp_path / "broken.onnx")
    broken.write_bytes(b"this is not an onnx file")
    with pytest.raises(ModelError, match="cannot load"):
        FaceEmotionRecognizer(broken)


def test_default_is_the_packaged_model(example_photo):
    try:
        path = packaged_model("face")
    except ModelError:
        with pytest.raises(ModelError, match="reinstall"):
            FaceEmotionRecognizer()
        return
    rec = FaceEmotionRecognizer()
    assert rec.model.path == path
    faces = rec.predict(example_photo)
    assert len(faces) == 1
    check_prediction(faces[0], rec.labels)


def test_inference_never_imports_torch(face_model, example_photo, tmp_path):
    script = f"""
import sys
from emorec.face.recognizer import FaceEmotionRecognizer
rec = FaceEmotionRecognizer({str(face_model)!r})
faces = rec.predict({str(example_photo)!r})
rec.predict_batch([{str(example_photo)!r}], cropped=True)
from emorec.face.video import iter_frames
from emorec.face.annotate import draw_predictions
assert len(faces) == 1, faces
print("torch" in sys.modules, "onnxruntime" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]


def test_large_jpeg_reduced_decode_reports_full_size_boxes(face_model, example_photo, tmp_path):
    """A 12 MP photo is decoded at reduced size for detection; boxes stay in full-size pixels."""
    from PIL import Image as PILImage

    photo = cv2.imread(str(example_photo))
    big = cv2.resize(photo, (4032, 4032), interpolation=cv2.INTER_LINEAR)[:3024]
    path = tmp_path / "phone.jpg"
    cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 92])
    fast = FaceEmotionRecognizer(face_model)
    slow = FaceEmotionRecognizer(face_model, reduced_decode=False)
    assert fast.find_faces(path).width == 4032 and fast.find_faces(path).height == 3024
    (a,) = fast.predict(path)
    (b,) = slow.predict(path)
    expected = tuple(round(v * 4032 / 512) for v in ASTRONAUT_FACE)
    for box in (a.box, b.box):
        assert _iou(box, expected) > 0.6, (box, expected)
    # The 48x48 crops from the reduced and the full decode show the same face.
    crop_fast, crop_slow = fast.find_faces(path).crops[0], slow.find_faces(path).crops[0]
    assert np.abs(crop_fast.astype(int) - crop_slow.astype(int)).mean() < 8
    assert a.label == b.label
    # EXIF orientation 6 (displayed rotated 90 degrees clockwise): boxes in displayed pixels.
    rotated = tmp_path / "phone_rot.jpg"
    pil = PILImage.fromarray(cv2.rotate(big, cv2.ROTATE_90_COUNTERCLOCKWISE)[:, :, ::-1])
    exif = PILImage.Exif()
    exif[0x0112] = 6
    pil.save(rotated, quality=92, exif=exif.tobytes())
    found = fast.find_faces(rotated)
    assert (found.width, found.height) == (4032, 3024)
    assert len(found.boxes) == 1
    assert _iou(found.boxes[0], expected) > 0.6, found.boxes


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    return ix * iy / float(aw * ah + bw * bh - ix * iy)
