"""Export a :mod:`realphoto` run's epoch as the shipped int8 ONNX face model with its card.

    python -m emorec.training.face.realphoto_export .devdata/runs/main_a --epoch 5 \
        --out src/emorec/models/face.onnx --name emorec-face-emonet-small-realphoto-int8

Static int8 (QDQ, per-channel) calibrated on 1,024 training crops (FER+ and
ExpW detector crops, never development or test images); ONNX-vs-torch parity
is checked on the ExpW development crops and FER+ PublicTest before the card
is written. The card's metrics are this ONNX file through ONNX Runtime on
FER+ test (PrivateTest, majority labels) and FER2013 PrivateTest (original
labels); the whole-pipeline and CK+ rows come from benchmarks/face_photos.py
and benchmarks/accuracy_ckplus.py.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

LICENSE = ("Weights trained on research-only data (FER2013 + FER+ labels, ExpW): research and "
           "non-commercial use only; the data's terms carry over to the weights.")


def _onnx_probs(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"input": x[i:i + 512]})[0] for i in range(0, len(x), 512)])


def _norm(x: np.ndarray) -> np.ndarray:
    return (((x.astype(np.float32) / 255.0) - 0.5) / 0.5)[:, None]


def heldout_metrics(onnx_path: Path, data_root: Path, labels: list[str]) -> dict:
    """FER+ test (PrivateTest majority) and FER2013 PrivateTest (original labels) for this ONNX file."""
    import cv2

    from emorec.datasets.fer2013 import load_fer_folder
    from emorec.datasets.ferplus import load_ferplus
    from emorec.evaluation.metrics import classification_metrics

    out = {}
    plus = [s for s in load_ferplus(data_root / "ferplus").samples if s.split == "PrivateTest"]
    x = np.stack([cv2.imread(s.path, cv2.IMREAD_GRAYSCALE) for s in plus])
    pred = _onnx_probs(onnx_path, _norm(x)).argmax(1)
    m = classification_metrics(np.array([labels.index(s.label) for s in plus]), pred, labels)
    out["ferplus_test"] = {"dataset": "ferplus", "split": "PrivateTest", "labels": "FER+ majority (unknown/NF/ties dropped)",
                           **{k: m[k] for k in ("n", "accuracy", "balanced_accuracy", "macro_f1", "per_class",
                                                "confusion_matrix")}}
    fer = [s for s in load_fer_folder(data_root / "fer2013").samples if s.split == "PrivateTest"]
    x = np.stack([cv2.imread(s.path, cv2.IMREAD_GRAYSCALE) for s in fer])
    pred = _onnx_probs(onnx_path, _norm(x)).argmax(1)
    # All of the model's outputs compete (a "contempt" answer counts as wrong), as a user would get them.
    m = classification_metrics(np.array([labels.index(s.label) for s in fer]), pred, labels)
    out["fer2013_test"] = {"dataset": "fer2013", "split": "PrivateTest", "labels": "original FER2013 labels (7 classes; argmax over all 8 outputs)",
                           **{k: m[k] for k in ("n", "accuracy", "balanced_accuracy", "macro_f1", "per_class",
                                                "confusion_matrix")}}
    return out


def _parent_run(weights: Path) -> dict:
    """The config and development history of the run a warm restart started from (its weights file's folder)."""
    import yaml

    run = weights.parent
    hist = run / "history.jsonl"
    return {"run_dir": str(run), "weights": weights.name,
            "config": yaml.safe_load((run / "config.yaml").read_text()) if (run / "config.yaml").is_file() else None,
            "development_history": [json.loads(line) for line in hist.read_text().splitlines() if line.strip()]
            if hist.is_file() else []}


def export_run(run_dir: Path, epoch: int, out: Path, name: str, data_root: Path, note: str = "") -> Path:
    import torch
    import yaml
    from safetensors.torch import load_file

    from emorec.cards import ModelCard, sha256_file
    from emorec.training.export import export_onnx, quantize_int8
    from emorec.training.face.models import create_model
    from emorec.training.face.realphoto import dev_metrics

    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    d = dict(np.load(cfg["data"], allow_pickle=False))
    meta = json.loads(str(d.pop("meta")))
    labels = meta["labels"]
    model = create_model(cfg["model"], len(labels))
    model.load_state_dict(load_file(str(run_dir / f"epoch_{epoch:02d}.safetensors")))
    model.eval()
    torch_dev = dev_metrics(model, d, labels)
    size = tuple(meta["crop"]["size"])
    out.parent.mkdir(parents=True, exist_ok=True)
    fp32 = out.with_suffix(".fp32.onnx")
    export_onnx(model, torch.zeros(1, 1, *size), fp32)
    rng = np.random.default_rng(0)
    calib = np.concatenate([d["fer_train_x"][rng.choice(len(d["fer_train_x"]), 768, replace=False)],
                            d["expw_x"][rng.choice(len(d["expw_x"]), 256, replace=False)]])
    quantize_int8(fp32, out, _norm(calib))
    fp32.unlink()
    # Parity: the int8 file against the torch weights on development crops.
    dev_x = np.concatenate([d["fer_pub_x"], d["dev_x"]])
    p_onnx = _onnx_probs(out, _norm(dev_x)).argmax(1)
    with torch.no_grad():
        p_torch = torch.cat([model(torch.from_numpy(_norm(dev_x[i:i + 512]))) for i in range(0, len(dev_x), 512)]).argmax(1).numpy()
    agreement = float((p_onnx == p_torch).mean())
    if agreement < 0.95:
        raise RuntimeError(f"int8 export disagrees with torch on {1 - agreement:.1%} of development crops")
    n_dev = len(d["fer_pub_x"])
    onnx_dev = {"ferplus_public_acc": float((p_onnx[:n_dev] == d["fer_pub_y"]).mean()),
                "expw_dev_matched_acc": float((p_onnx[n_dev:] == d["dev_y"]).mean())}
    spec = {"size": list(size), "channels": int(meta["crop"]["channels"]), "layout": "NCHW",
            "scale": 1.0 / 255.0, "mean": 0.5, "std": 0.5, "interpolation": meta["crop"]["interpolation"],
            "crop": meta["crop"], "outputs_probabilities": True, "tta_flip": False,
            "quantization": "int8 static (QDQ, per-channel), 1024 calibration crops from the training data (FER+ 768, ExpW 256)"}
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines() if line.strip()]
    training = {
        "data": "ferplus (FER2013 Training images, FER+ votes) + expw (crops.csv, detector crops)"
                + (" + ckplus48" if cfg.get("use_ckplus") else "; no CK+ (CK+48 stays an unseen set)"),
        "datasets": {
            "ferplus": "FER2013 Training images (own 48x48 framing) with FER+ votes; majority-labelled images "
                       f"({len(d['fer_train_x'])}); target = {cfg['fer_alpha']} x vote distribution + "
                       f"{1 - cfg['fer_alpha']:.2f} x original FER2013 label",
            "expw": f"ExpW crops.csv ({len(d['expw_x'])} faces), re-detected with {meta['detector']} and framed with "
                    f"input.crop ({float(d['expw_detected'].mean()):.1%} matched a detection, rest the labelled box); "
                    f"repeated {cfg['expw_repeat']}x per epoch, label smoothing {cfg['label_smoothing']}",
            **({"ckplus48": "CK+48, detector crops"} if cfg.get("use_ckplus") else {}),
        },
        "not_trained_on": [] if cfg.get("use_ckplus") else ["CK+48 (kept unseen for the CK+48 row of benchmarks/face_photos.py)"],
        "label_maps": {"ferplus": "emorec.datasets.ferplus.FERPLUS_LABELS", "expw": "emorec.datasets.expw.EXPW_LABELS"},
        "protocol": "FER2013/FER+ official splits (Training for training, PublicTest for development, PrivateTest for test); "
                    "ExpW photos/ = development only, never trained on; epoch chosen on development data",
        "init_from": (f"{cfg['init_weights']} (warm restart from that run's epoch; the parent run is in parent_run)"
                      if cfg.get("init_weights") else
                      f"{cfg['init_onnx']} (previous shipped int8 model, dequantised; 8th output 'contempt' added)"),
        **({"parent_run": _parent_run(Path(cfg["init_weights"]))} if cfg.get("init_weights") else {}),
        "config": cfg,
        "epoch": epoch,
        "run_note": note,
        "development_history": history,
        "command": f"python -m emorec.training.face.prep --out {cfg['data']} --margin {meta['crop']['margin']} --ckplus && "
                   f"python -m emorec.training.face.realphoto --config {run_dir}/config.yaml",
        "export_command": f"python -m emorec.training.face.realphoto_export {run_dir} --epoch {epoch} --out {out} --name {name}",
    }
    metrics = {"source": "this ONNX file through ONNX Runtime", **heldout_metrics(out, data_root, labels),
               "development": {"torch": torch_dev, "onnx": onnx_dev, "int8_torch_agreement": agreement},
               "command": training["export_command"],
               "other_rows": "whole-pipeline ExpW development photos and CK+48 unseen: benchmarks/face_photos.py; "
                             "subject-independent 10-fold CK+48 fine-tuning: benchmarks/accuracy_ckplus.py"}
    card = ModelCard(name=name, task="face", labels=labels, input=spec, architecture=cfg["model"], training=training,
                     metrics=metrics, onnx_sha256=sha256_file(out), license=LICENSE,
                     notes="Faces are framed by input.crop around the detector's box (emorec.face.crop.make_crop), "
                           "the same function that made the ExpW training crops.")
    try:
        from emorec import __version__

        card.emorec_version = __version__
    except ImportError:
        pass
    card.save(out.with_suffix(".json"))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", nargs="?")
    p.add_argument("--epoch", type=int)
    p.add_argument("--out", required=True)
    p.add_argument("--attach-benchmarks", action="store_true",
                   help="only copy benchmarks/results rows measured on --out into its card")
    p.add_argument("--name", default="emorec-face-emonet-small-realphoto-int8")
    p.add_argument("--data", default=None)
    p.add_argument("--note", default="", help="what happened to the run (stored in the card's training.run_note)")
    args = p.parse_args(argv)
    from emorec.paths import data_root

    if args.attach_benchmarks:
        rows = attach_benchmarks(Path(args.out).with_suffix(".json"), Path(__file__).resolve().parents[4] / "benchmarks/results")
        print(json.dumps(sorted(rows)))
        return 0
    if not args.run_dir or args.epoch is None:
        p.error("run_dir and --epoch are needed to export")
    path = export_run(Path(args.run_dir), args.epoch, Path(args.out), args.name, data_root(args.data), args.note)
    card = json.loads(path.with_suffix(".json").read_text())
    print(path, json.dumps({k: card["metrics"][k]["accuracy"] for k in ("ferplus_test", "fer2013_test")}),
          json.dumps(card["metrics"]["development"]))
    return 0



def attach_benchmarks(card_path: Path, results: Path) -> dict:
    """Copy the benchmark rows measured on this very ONNX file (sha checked) into the card's metrics.

    ``benchmarks/face_photos.py`` (whole pipeline on the ExpW development photos, FER+ test, FER2013
    PrivateTest, CK+48 unseen) and ``benchmarks/accuracy_ckplus.py`` (10-fold fine-tuning from these
    weights) write the JSON; this records which model produced which row.
    """
    from emorec.cards import ModelCard

    card = ModelCard.load(card_path)
    rows: dict = {}
    photos = results / "face_photos.json"
    if photos.is_file():
        doc = json.loads(photos.read_text())
        f = doc["figures"]
        if f.get("model_sha256") != card.onnx_sha256:
            raise RuntimeError(f"{photos} was measured on another model (sha {f.get('model_sha256')}): rerun it")
        for r in f["rows"] + f.get("peer_rows", []):
            key = f"{r['system']}: {r['dataset']} ({r['protocol']})"
            rows[key] = {k: r.get(k) for k in ("n", "accuracy", "balanced_accuracy", "macro_f1", "detection_recall",
                                                 "per_class_recall") if r.get(k) is not None}
        rows["_face_photos"] = {"command": doc.get("command"), "timestamp": doc.get("timestamp"),
                                "model": "this ONNX file (emorec rows); fer rows: the fer package's own pipeline"}
    ck = results / "accuracy_ckplus.json"
    if ck.is_file():
        doc = json.loads(ck.read_text())
        f = doc["figures"]
        rows["CK+48 subject-independent 10-fold fine-tuning"] = {
            "n": f.get("n"), "accuracy": f.get("accuracy"), "balanced_accuracy": f.get("balanced_accuracy"),
            "macro_f1": f.get("macro_f1"), "command": doc.get("command"), "trained_by": f.get("trained_by"),
            "model": "the torch weights named in trained_by, fine-tuned on each CK+48 training fold (not this file "
                     "itself; after a warm restart they may be the parent run's weights, see training.parent_run)"}
    rows["_attached_by"] = f"python -m emorec.training.face.realphoto_export --out {card_path.with_suffix('.onnx')} --attach-benchmarks"
    card.metrics = {**card.metrics, "benchmarks": rows}
    card.save(card_path)
    return rows



if __name__ == "__main__":
    raise SystemExit(main())
