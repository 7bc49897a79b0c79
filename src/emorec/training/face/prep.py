"""Prepare face training / development arrays once, cached as an .npz outside the repo.

    python -m emorec.training.face.prep --out .devdata/face_m0.npz --margin 0.0

- FER+ (Training, PublicTest): FER2013's own 48x48 framing; majority-labelled
  images with their FER+ vote distribution and their original FER2013 label.
- ExpW crops (training): the packaged default detector re-run over every crop;
  the detection matching the labelled box (IoU >= 0.4) is framed with the crop
  spec, else the labelled box is (``expw_source`` says which).
- ExpW photos (development only): detector over each whole photo, labelled
  faces matched one-to-one; the matched faces' crops and the total face count,
  so a development score can count missed faces as wrong.
- CK+48 (optional, ``--ckplus``): detector over each (upscaled) image, framed
  with the crop spec; subject ids kept.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from emorec.face.crop import CropSpec, make_crop
from emorec.training.face.crops import default_detector, detect_and_crop, match_all, read_bgr


def _ferplus(data: Path) -> dict[str, np.ndarray]:
    import cv2

    from emorec.datasets.ferplus import FERPLUS_EMOTIONS, load_ferplus, vote_distribution

    ds = load_ferplus(data / "ferplus")
    labels = list(FERPLUS_EMOTIONS)
    out: dict[str, np.ndarray] = {}
    for split, key in (("Training", "fer_train"), ("PublicTest", "fer_pub")):
        samples = [s for s in ds.samples if s.split == split]
        out[f"{key}_x"] = np.stack([cv2.imread(s.path, cv2.IMREAD_GRAYSCALE) for s in samples])
        out[f"{key}_y"] = np.array([labels.index(s.label) for s in samples], dtype=np.int64)
        out[f"{key}_dist"] = np.stack([vote_distribution(s.votes) for s in samples])
        out[f"{key}_fer13"] = np.array([labels.index(s.fer2013_label) if s.fer2013_label in labels else -1
                                        for s in samples], dtype=np.int64)
    return out


def _expw(data: Path, spec: CropSpec, detector) -> dict[str, np.ndarray]:
    from emorec.datasets.expw import FaceDataset, faces_by_photo, load_expw_crops, load_expw_photos
    from emorec.datasets.ferplus import FERPLUS_EMOTIONS

    labels = list(FERPLUS_EMOTIONS)
    crops = load_expw_crops(data / "expw")
    xs, ys, src, ious = [], [], [], []
    for s in crops.samples:
        r = detect_and_crop(read_bgr(s.path), s.box, detector, spec)
        xs.append(r.crop)
        ys.append(labels.index(s.label))
        src.append(r.source == "detector")
        ious.append(r.iou)
    out = {"expw_x": np.stack(xs), "expw_y": np.array(ys), "expw_detected": np.array(src),
           "expw_iou": np.array(ious, dtype=np.float32)}
    photos: FaceDataset = load_expw_photos(data / "expw")
    dx, dy, missed = [], [], []
    for path, faces in sorted(faces_by_photo(photos).items()):
        image = read_bgr(path)
        dets = detector.detect(image)
        for face, j in zip(faces, match_all(dets, [f.box for f in faces])):
            if j is None:
                missed.append(labels.index(face.label))
            else:
                dx.append(make_crop(image, dets[j].box, dets[j].landmarks, spec))
                dy.append(labels.index(face.label))
    out.update({"dev_x": np.stack(dx), "dev_y": np.array(dy), "dev_missed_y": np.array(missed, dtype=np.int64)})
    return out


def _ckplus(data: Path, spec: CropSpec, detector) -> dict[str, np.ndarray]:
    import cv2

    from emorec.datasets.ckplus import load_ckplus48
    from emorec.datasets.ferplus import FERPLUS_EMOTIONS

    labels = list(FERPLUS_EMOTIONS)
    ds = load_ckplus48(data / "ckplus48")
    xs, src = [], []
    for s in ds.samples:
        img = cv2.imread(s.path, cv2.IMREAD_GRAYSCALE)
        r = detect_and_crop(img, None, detector, spec, upscale_to=192)
        xs.append(r.crop)
        src.append(r.source == "detector")
    return {"ck_x": np.stack(xs), "ck_y": np.array([labels.index(s.label) for s in ds.samples]),
            "ck_subject": np.array([s.subject for s in ds.samples]), "ck_detected": np.array(src)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--data", default=None, help="data root (else $EMOREC_DATA)")
    p.add_argument("--size", type=int, default=48)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--margin", type=float, default=0.0)
    p.add_argument("--offset-y", type=float, default=0.0)
    p.add_argument("--no-square", action="store_true")
    p.add_argument("--ckplus", action="store_true")
    p.add_argument("--no-fer", action="store_true")
    args = p.parse_args(argv)
    from emorec.datasets.ferplus import FERPLUS_EMOTIONS
    from emorec.paths import data_root

    data = data_root(args.data)
    spec = CropSpec(size=(args.size, args.size), channels=args.channels, margin=args.margin,
                    offset_y=args.offset_y, square=not args.no_square)
    detector = default_detector()
    arrays: dict[str, np.ndarray] = {}
    if not args.no_fer:
        arrays.update(_ferplus(data))
    arrays.update(_expw(data, spec, detector))
    if args.ckplus:
        arrays.update(_ckplus(data, spec, detector))
    meta = {"crop": spec.to_dict(), "labels": list(FERPLUS_EMOTIONS), "detector": repr(detector)}
    arrays["meta"] = np.array(json.dumps(meta))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(json.dumps({k: list(v.shape) for k, v in arrays.items()}), meta)
    print(f"ExpW crops re-detected: {arrays['expw_detected'].mean():.3f}; dev matched {len(arrays['dev_y'])}, "
          f"missed {len(arrays['dev_missed_y'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
