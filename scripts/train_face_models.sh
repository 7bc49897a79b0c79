#!/usr/bin/env bash
# Reproduces the shipped face model and the CK+ numbers (GPU recommended; runs on CPU too, slowly).
# Usage: EMOREC_DATA=../shared/data scripts/train_face_models.sh [RUNS_DIR]
set -euo pipefail
RUNS=${1:-runs}
PY=${PY:-python}
train() {  # train CONFIG OUT [extra yaml overrides as key=value]
  $PY - "$@" <<'PYEOF'
import sys
from emorec.training.config import load_config
from emorec.training.face_train import FaceTrainConfig, run_training, summary
config, out, *kv = sys.argv[1:]
over = {"out": out}
for item in kv:
    k, v = item.split("=", 1)
    over[k] = v.split(",") if k == "teacher" else v
cfg = load_config(FaceTrainConfig, config, over)
print(summary(run_training(cfg)))
PYEOF
}
train configs/face/fer_teacher.yaml "$RUNS/fer_teacher"
train configs/face/fer_student.yaml "$RUNS/fer_student" teacher="$RUNS/fer_teacher"
train configs/face/ck_kfold.yaml "$RUNS/ck_kfold" init_from="$RUNS/fer_student"
train configs/face/ck_random.yaml "$RUNS/ck_random" init_from="$RUNS/fer_student"
