#!/usr/bin/env bash
# Reproduces the shipped face model and every face number in the README.
# A GPU makes the whole recipe take ~15 minutes (an H100 was used); it runs on CPU too, slowly.
# Usage: EMOREC_DATA=../shared/data scripts/train_face_models.sh [RUNS_DIR]
set -euo pipefail
RUNS=${1:-runs}
EMOREC=${EMOREC:-emorec}
train() { "$EMOREC" face train --config "$@"; }

# 1. FER2013 (official split): a large teacher, a distilled emonet, the original DCNN as baseline.
train configs/face/fer_teacher.yaml --out "$RUNS/fer_teacher"
train configs/face/fer_student.yaml --out "$RUNS/fer_student" --teacher "$RUNS/fer_teacher"
train configs/face/fer_dcnn.yaml --out "$RUNS/fer_dcnn"
# 2. The shipped model: emonet-small distilled from both (chosen over the kd9 variant on PublicTest).
train configs/face/fer_student_small.yaml --out "$RUNS/fer_student_small" --teacher "$RUNS/fer_teacher" --teacher "$RUNS/fer_student"
train configs/face/fer_student_small_kd9.yaml --out "$RUNS/fer_student_small_kd9" --teacher "$RUNS/fer_teacher" --teacher "$RUNS/fer_student"
"$EMOREC" face export "$RUNS/fer_student_small" --out src/emorec/models/face.onnx --int8 --name emorec-face-emonet-small-int8
# 3. CK+48: subject-independent 10-fold (fine-tuned and from scratch) and the notebooks' random split.
train configs/face/ck_kfold.yaml --out "$RUNS/ck_kfold" --init-from "$RUNS/fer_student"
train configs/face/ck_kfold_scratch.yaml --out "$RUNS/ck_kfold_scratch"
train configs/face/ck_random.yaml --out "$RUNS/ck_random" --init-from "$RUNS/fer_student"
