"""Fine-tune the shipped face model for real photos: FER+ votes + ExpW detector crops (+ CK+48).

    nohup nice -n 5 python -m emorec.training.face.realphoto --config run/config.yaml &

Reads the arrays made by :mod:`emorec.training.face.prep` (crops already
framed with the card's crop spec), starts from the shipped int8 ONNX model
(dequantised, batch norm re-created, an 8th "contempt" output added), and
trains with AdamW + cosine decay, the geometric :class:`FaceAugment` and the
photometric :class:`PhotoAugment` on training batches only.

Targets: FER+ images learn ``fer_alpha * vote distribution + (1 - fer_alpha) *
original FER2013 label`` (the original labels keep FER2013 accuracy from
collapsing; alpha = 1 is plain distribution training); ExpW / CK+ crops learn
their label with label smoothing. Every epoch writes a checkpoint
(``epoch_XX.safetensors`` + ``resume.ckpt``) and a line of development
metrics (FER+ PublicTest, FER2013 labels on PublicTest, ExpW development
photos: matched-face and whole-pipeline scores) to ``history.jsonl``; a run
restarted with the same config resumes after its last finished epoch.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml

from emorec.evaluation.metrics import classification_metrics
from emorec.training.face.augment import FaceAugment
from emorec.training.face.photo_augment import PhotoAugment


@dataclass
class RealPhotoConfig:
    data: str = ".devdata/face_m0.npz"
    out: str = ".devdata/runs/realphoto"
    init_onnx: str = "src/emorec/models/face.onnx"
    init_weights: str = ""  # warm restart: a run's epoch_XX.safetensors (same architecture and labels)
    model: str = "emonet-small"
    epochs: int = 8
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 5e-4
    warmup_steps: int = 150
    fer_alpha: float = 0.7
    label_smoothing: float = 0.1
    expw_repeat: int = 2
    use_ckplus: bool = False
    class_weight_power: float = 0.5  # per-sample weight = (class frequency)^-power, mean 1
    limit_fer: int = 0  # pilots: use at most this many FER+ training images
    epoch_items: int = 0  # > 0: an "epoch" is this many items drawn without replacement (more dev checkpoints)
    seed: int = 0
    threads: int = 1
    augment: dict = field(default_factory=lambda: {**asdict(FaceAugment()), "scale": 0.15, "shift": 0.08})
    photo: dict = field(default_factory=lambda: PhotoAugment().to_dict())


def _norm(x_uint8: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(x_uint8)).float() / 255.0
    return ((x - 0.5) / 0.5).unsqueeze(1)


def build_model(cfg: RealPhotoConfig, calib: np.ndarray, n_labels: int) -> torch.nn.Module:
    from emorec.training.face.models import create_model
    from emorec.training.face.onnx_init import load_onnx_weights

    import onnx

    old = onnx.load(cfg.init_onnx)
    n_old = next(len(i.dims) and i.dims[0] for i in old.graph.initializer if i.name.startswith("model.fc.bias"))
    model = create_model(cfg.model, int(n_old))
    load_onnx_weights(model, cfg.init_onnx, calibration=_norm(calib))
    if n_old != n_labels:  # new classes (contempt) appended after the shipped ones
        fc = torch.nn.Linear(model.fc.in_features, n_labels)
        with torch.no_grad():
            fc.weight.normal_(0, 0.01)
            fc.bias.fill_(float(model.fc.bias.min()) - 1.0)
            fc.weight[:n_old] = model.fc.weight
            fc.bias[:n_old] = model.fc.bias
        model.fc = fc
    return model


@torch.no_grad()
def predict(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    model.eval()
    out = [F.softmax(model(_norm(x[i:i + 512])), 1).numpy() for i in range(0, len(x), 512)]
    return np.concatenate(out) if out else np.zeros((0, model.fc.out_features), np.float32)


def dev_metrics(model: torch.nn.Module, d: dict[str, np.ndarray], labels: list[str]) -> dict:
    out: dict = {}
    p = predict(model, d["fer_pub_x"]).argmax(1)
    out["ferplus_public_acc"] = float((p == d["fer_pub_y"]).mean())
    m13 = d["fer_pub_fer13"] >= 0
    out["fer2013_public_acc"] = float((p[m13] == d["fer_pub_fer13"][m13]).mean())
    pd_ = predict(model, d["dev_x"]).argmax(1)
    m = classification_metrics(d["dev_y"], pd_, labels)
    n_all = len(d["dev_y"]) + len(d["dev_missed_y"])
    y_all = np.concatenate([d["dev_y"], d["dev_missed_y"]])
    p_all = np.concatenate([pd_, np.full(len(d["dev_missed_y"]), -1)])
    present = sorted(set(y_all.tolist()))
    rec = {labels[c]: float((p_all[y_all == c] == c).mean()) for c in present}
    out.update({"expw_dev_matched_acc": m["accuracy"], "expw_dev_matched_bal": m["balanced_accuracy"],
                "expw_dev_pipeline_acc": float((p_all == y_all).sum() / n_all),
                "expw_dev_pipeline_bal": float(np.mean(list(rec.values()))),
                "expw_dev_pipeline_recall": rec})
    return out


def train(cfg: RealPhotoConfig) -> Path:
    from safetensors.torch import save_file

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(asdict(cfg), sort_keys=False))
    d = dict(np.load(cfg.data, allow_pickle=False))
    meta = json.loads(str(d.pop("meta")))
    labels = meta["labels"]
    k = len(labels)

    fx, fy = d["fer_train_x"], d["fer_train_y"]
    ft = cfg.fer_alpha * d["fer_train_dist"]
    has13 = d["fer_train_fer13"] >= 0
    ft[has13, d["fer_train_fer13"][has13]] += 1 - cfg.fer_alpha
    ft[~has13] /= cfg.fer_alpha
    if cfg.limit_fer:
        keep = rng.permutation(len(fx))[: cfg.limit_fer]
        fx, fy, ft = fx[keep], fy[keep], ft[keep]
    parts_x, parts_t, parts_y = [fx], [ft], [fy]

    def hard(y: np.ndarray) -> np.ndarray:
        t = np.full((len(y), k), cfg.label_smoothing / k, np.float32)
        t[np.arange(len(y)), y] += 1 - cfg.label_smoothing
        return t

    extra = [("expw", cfg.expw_repeat)] + ([("ck", 1)] if cfg.use_ckplus else [])
    for key, times in extra:
        for _ in range(times):
            parts_x.append(d[f"{key}_x"])
            parts_t.append(hard(d[f"{key}_y"]))
            parts_y.append(d[f"{key}_y"])
    X = np.concatenate(parts_x)
    T = torch.from_numpy(np.concatenate(parts_t).astype(np.float32))
    Y = np.concatenate(parts_y)
    freq = np.bincount(Y, minlength=k).astype(np.float64) + 1
    w = freq[Y] ** -cfg.class_weight_power
    W = torch.from_numpy((w / w.mean()).astype(np.float32))
    n = len(X)
    steps_per_epoch = math.ceil(min(n, cfg.epoch_items or n) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs

    model = build_model(cfg, d["fer_train_x"][:2048], k)
    if cfg.init_weights:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(cfg.init_weights))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def lr_at(step: int) -> float:
        if step < cfg.warmup_steps:
            return cfg.lr * (step + 1) / cfg.warmup_steps
        return 0.5 * cfg.lr * (1 + math.cos(math.pi * min(1.0, step / total)))

    start_epoch = 0
    resume = out / "resume.ckpt"
    if resume.is_file():
        state = torch.load(resume, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start_epoch = state["epoch"]
        rng = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed after epoch {start_epoch}", flush=True)
    else:
        (out / "history.jsonl").write_text("")
        base = dev_metrics(model, d, labels)
        with (out / "history.jsonl").open("a") as fh:
            fh.write(json.dumps({"epoch": 0, **base}) + "\n")
        print("epoch 0 (init)", json.dumps(base), flush=True)
    geo = FaceAugment(**cfg.augment)
    photo = PhotoAugment(**{k_: tuple(v) if isinstance(v, list) else v for k_, v in cfg.photo.items()})
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        order = rng.permutation(n)[: steps_per_epoch * cfg.batch_size]
        t0, seen, loss_sum = time.time(), 0, 0.0
        for b in range(steps_per_epoch):
            step = epoch * steps_per_epoch + b
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            xb = photo.jpeg_uint8(X[idx], rng)
            x = photo(geo(_norm(xb)))
            logits = model(x)
            loss = (-(T[idx] * F.log_softmax(logits, 1)).sum(1) * W[idx]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(idx)
            loss_sum += float(loss.detach()) * len(idx)
            if b % 50 == 0:
                el = time.time() - t0
                print(f"epoch {epoch + 1} step {b}/{steps_per_epoch} loss {loss_sum / seen:.4f} "
                      f"{1000 * el / max(seen, 1):.2f} ms/item", flush=True)
        metrics = dev_metrics(model, d, labels)
        rec = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "seconds": time.time() - t0, **metrics}
        with (out / "history.jsonl").open("a") as fh:
            fh.write(json.dumps(rec) + "\n")
        print(json.dumps(rec), flush=True)
        save_file({k_: v.contiguous() for k_, v in model.state_dict().items()}, str(out / f"epoch_{epoch + 1:02d}.safetensors"))
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch + 1,
                    "rng": rng, "torch_rng": torch.get_rng_state()}, resume)
    (out / "labels.json").write_text(json.dumps({"labels": labels, "crop": meta["crop"], "detector": meta["detector"]}))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", help="YAML with RealPhotoConfig fields")
    p.add_argument("--set", nargs="*", default=[], help="field=value overrides (YAML values)")
    args = p.parse_args(argv)
    values = yaml.safe_load(Path(args.config).read_text()) if args.config else {}
    for item in args.set:
        key, _, val = item.partition("=")
        values[key] = yaml.safe_load(val)
    train(RealPhotoConfig(**values))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
