"""Development-data probe: weight averages ("model soups") of sibling face checkpoints.

    python benchmarks/runs/face_realphoto_restart_c/probes/soups.py \\
        a3=.devdata/runs/restart_a/epoch_03.safetensors \\
        a3b3=.devdata/runs/restart_a/epoch_03.safetensors,.devdata/runs/restart_b/epoch_03.safetensors

Prints, per soup: FER+ PublicTest, FER2013 PublicTest, ExpW development whole pipeline (accuracy,
balanced accuracy) and disgust recall. Batch-norm statistics are averaged with the weights.
"""
from __future__ import annotations

import json
import sys

import numpy as np
import torch
from safetensors.torch import load_file

from emorec.training.face.models import create_model
from emorec.training.face.realphoto import dev_metrics


def average(paths: list[str]) -> dict[str, torch.Tensor]:
    states = [load_file(p) for p in paths]
    return {k: (sum(s[k].float() for s in states) / len(states)) if t.is_floating_point() else t
            for k, t in states[0].items()}


def main(specs: list[str]) -> None:
    torch.set_num_threads(1)
    d = dict(np.load(".devdata/face_m0.npz"))
    labels = json.loads(str(d.pop("meta")))["labels"]
    for spec in specs:
        name, _, paths = spec.partition("=")
        model = create_model("emonet-small", len(labels))
        model.load_state_dict(average(paths.split(",")))
        r = dev_metrics(model.eval(), d, labels)
        print(name, *(round(r[key], 4) for key in ("ferplus_public_acc", "fer2013_public_acc",
                                                   "expw_dev_pipeline_acc", "expw_dev_pipeline_bal")),
              round(r["expw_dev_pipeline_recall"]["disgust"], 3), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
