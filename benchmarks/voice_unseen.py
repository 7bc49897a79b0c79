"""A voice model file scored on whole corpora through the file pipeline (decode, VAD, features, model).

Used to compare ONNX voice models on corpora they were not trained on, for example the previous
RAVDESS-only model (``git show 696d496:src/emorec/models/voice.onnx``) on EMOVO and URDU beside the
leave-one-corpus-out rows of ``accuracy_voice_cross.py``. Each clip's argmax is restricted to the
classes its corpus has (as in the cross-corpus rows); intervals resample speakers.

    python benchmarks/voice_unseen.py --model /tmp/old/voice.onnx --corpus emovo --corpus urdu \
        --name voice_unseen_previous      # writes benchmarks/results/voice_unseen_previous.json
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

if __package__:
    from benchmarks import common
else:
    import common


def score_corpus(recognizer: Any, corpus: str, data: str | None, limit: int | None) -> dict[str, Any]:
    from emorec.datasets.registry import resolve_dataset_path
    from emorec.datasets.speech_corpora import SPEECH_CORPORA
    from emorec.evaluation.bootstrap import bootstrap_ci
    from emorec.evaluation.metrics import classification_metrics

    root = resolve_dataset_path(corpus, None, data, n_datasets=2)
    records = SPEECH_CORPORA[corpus].load(root).records
    if limit:
        records = records[::max(1, len(records) // limit)]
    labels = sorted({r.label for r in records}, key=recognizer.labels.index)
    missing = [lab for lab in labels if lab not in recognizer.labels]
    if missing:
        raise common.MissingPrerequisite(f"model has no output for {missing} of corpus {corpus}")
    cols = [recognizer.labels.index(lab) for lab in labels]
    y_true, y_pred, groups, failed = [], [], [], 0
    for rec in records:
        res = recognizer.predict(rec.path)
        if res.error or not res.scores:
            failed += 1
            continue
        probs = np.array([res.scores[recognizer.labels[c]] for c in cols])
        y_true.append(labels.index(rec.label))
        y_pred.append(int(np.argmax(probs)))
        groups.append(rec.speaker)
    metrics = classification_metrics(y_true, y_pred, labels)
    ci = bootstrap_ci(y_true, y_pred, labels, groups=groups)
    return common.accuracy_figures(metrics, ci, task="voice", dataset=corpus,
                                   protocol="whole corpus, file pipeline, argmax over the corpus's classes",
                                   extra={"failed": failed, "pred_counts": np.bincount(y_pred, minlength=len(labels)).tolist()})


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="ONNX voice model (its card beside it)")
    p.add_argument("--corpus", action="append", required=True, help="corpus name (repeatable)")
    p.add_argument("--name", default="voice_unseen", help="results file name")
    args = p.parse_args()
    from emorec.voice.recognizer import VoiceEmotionRecognizer

    recognizer = VoiceEmotionRecognizer(args.model, threads=1)
    rows = []
    for corpus in args.corpus:
        row = score_corpus(recognizer, corpus, args.data, 60 if args.quick else None)
        print(f"{corpus}: acc {row['accuracy']['value']:.3f} uar {row['balanced_accuracy']['value']:.3f} "
              f"pred counts {row['pred_counts']} over {row['labels']}")
        rows.append(row)
    common.write_result(args.name, {"task": "voice-unseen", "model": str(Path(args.model)),
                                    "model_name": recognizer.card.name, "rows": rows})


if __name__ == "__main__":
    common.run_main(main)
