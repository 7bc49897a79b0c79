"""Development-data probe: logit adjustment by tau * log(effective training prior) on a face checkpoint.

    python benchmarks/runs/face_realphoto_restart_c/probes/logit_adjustment.py .devdata/runs/restart_a 3

Prints, per tau: FER+ PublicTest accuracy, FER2013 PublicTest accuracy, ExpW development whole-pipeline
accuracy and balanced accuracy, disgust and fear recall (a missed face counts as wrong).
"""
from __future__ import annotations

import json
import sys

import numpy as np
import torch
import yaml
from safetensors.torch import load_file

from emorec.training.face.models import create_model
from emorec.training.face.realphoto import predict


def main(run: str, epoch: int) -> None:
    torch.set_num_threads(1)
    cfg = yaml.safe_load(open(f"{run}/config.yaml"))
    d = dict(np.load(cfg["data"]))
    labels = json.loads(str(d.pop("meta")))["labels"]
    k = len(labels)
    model = create_model(cfg["model"], k)
    model.load_state_dict(load_file(f"{run}/epoch_{epoch:02d}.safetensors"))
    # The training mix's targets, weighted as training weighs them.
    ft = cfg["fer_alpha"] * d["fer_train_dist"]
    has = d["fer_train_fer13"] >= 0
    ft[has, d["fer_train_fer13"][has]] += 1 - cfg["fer_alpha"]
    ft[~has] /= cfg["fer_alpha"]
    targets = np.concatenate([ft] + [np.eye(k)[d["expw_y"]]] * cfg["expw_repeat"])
    y = np.concatenate([d["fer_train_y"]] + [d["expw_y"]] * cfg["expw_repeat"])
    w = (np.bincount(y, minlength=k) + 1.0)[y] ** -cfg["class_weight_power"]
    prior = (targets * w[:, None]).sum(0)
    prior /= prior.sum()
    print("prior", dict(zip(labels, np.round(prior, 3))))
    p_fer, p_dev = predict(model, d["fer_pub_x"]), predict(model, d["dev_x"])
    y_all = np.concatenate([d["dev_y"], d["dev_missed_y"]])
    m13 = d["fer_pub_fer13"] >= 0
    for tau in (0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5):
        adj = -tau * np.log(prior)
        f = (np.log(p_fer + 1e-9) + adj).argmax(1)
        e = np.concatenate([(np.log(p_dev + 1e-9) + adj).argmax(1), np.full(len(d["dev_missed_y"]), -1)])
        rec = {labels[c]: float((e[y_all == c] == c).mean()) for c in sorted(set(y_all.tolist()))}
        print(tau, f"{(f == d['fer_pub_y']).mean():.4f} {(f[m13] == d['fer_pub_fer13'][m13]).mean():.4f} "
              f"{(e == y_all).mean():.4f} {np.mean(list(rec.values())):.4f} {rec['disgust']:.4f} {rec['fear']:.4f}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
