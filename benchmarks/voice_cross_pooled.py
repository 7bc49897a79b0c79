"""A pooled-statistics linear baseline for the cross-corpus voice rows (a measured comparison, not shipped).

Each clip becomes the mean and standard deviation over its frames of the shipped recipe's features
(64 log-mel bands minus the clip's mean, with deltas: 384 values); a masked softmax regression
(each clip's softmax over its own corpus's classes, the recipe's corpus/class weighting) is fitted
on the training side of exactly the splits of ``accuracy_voice_cross.py`` (corpus-kfold within each
corpus, leave-one-corpus-out) and scored the same way. Seconds on a CPU: it says how much the
recurrent model adds, especially across corpora.

    python benchmarks/voice_cross_pooled.py      # writes benchmarks/results/voice_cross_pooled.json
"""
from __future__ import annotations

from typing import Any

import numpy as np

if __package__:
    from benchmarks import common
else:
    import common

NAME = "voice_cross_pooled"
CONFIG = common.REPO_ROOT / "configs" / "voice" / "cross_base.yaml"


def pooled(data, feat) -> np.ndarray:
    from emorec.voice.features import finalize

    rows = []
    for b in data.bases:
        f = finalize(np.asarray(b, dtype=np.float32), feat)
        rows.append(np.concatenate([f.mean(0), f.std(0)]))
    return np.stack(rows).astype(np.float32)


def fit_predict(x, data, tr, te, steps: int = 400, seed: int = 0) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    from emorec.training.voice.multi import sample_weights

    torch.manual_seed(seed)
    mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-5
    xt = torch.from_numpy((x[tr] - mu) / sd)
    y = torch.from_numpy(data.y[tr])
    mask = torch.from_numpy(data.class_mask())[torch.from_numpy(data.corpus_of[tr])]
    w = torch.from_numpy(sample_weights(data, tr)).float()
    lin = torch.nn.Linear(x.shape[1], len(data.labels))
    opt = torch.optim.AdamW(lin.parameters(), lr=0.02, weight_decay=1e-2)
    for _ in range(steps):
        logits = lin(xt).masked_fill(mask == 0, -1e4)
        target = F.one_hot(y, len(data.labels)).float() * 0.9 + 0.1 * mask / mask.sum(1, keepdim=True)
        loss = (-(target * F.log_softmax(logits, 1)).sum(1) * w).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return torch.softmax(lin(torch.from_numpy((x[te] - mu) / sd)), 1).numpy()


def main() -> None:
    from emorec.evaluation.bootstrap import bootstrap_ci
    from emorec.evaluation.metrics import classification_metrics
    from emorec.training.config import load_config
    from emorec.training.voice.multi import MultiCorpusConfig, corpus_kfold, leave_corpus_out, load_data, restrict

    p = common.parser(__doc__.splitlines()[0])
    args = p.parse_args()
    cfg = load_config(MultiCorpusConfig, CONFIG, {"data": args.data, "out": "/tmp/unused"})
    import torch

    torch.set_num_threads(1)
    data = load_data(cfg, progress=False)
    x = pooled(data, cfg.feature_config())
    corpus = np.array([r.corpus for r in data.records])
    splits = [("corpus-kfold", f"fold_{i:02d}", tr, te) for i, (tr, te) in enumerate(corpus_kfold(data, cfg.folds), 1)]
    splits += [("leave-corpus-out", f"without_{c}", *leave_corpus_out(data, c)) for c in data.corpora]
    preds: dict[str, list] = {"corpus-kfold": [], "leave-corpus-out": []}
    for kind, name, tr, te in splits:
        probs = fit_predict(x, data, tr, te)
        trained = {data.labels[k] for k in set(data.y[tr].tolist())}
        pred = np.zeros(len(te), dtype=np.int64)
        for c in set(corpus[te].tolist()):
            sel = corpus[te] == c
            pred[sel] = restrict(probs[sel], data.labels, [lab for lab in data.corpus_labels[c] if lab in trained])
        preds[kind].append((te, pred))
    rows: list[dict[str, Any]] = []
    for kind, parts in preds.items():
        te = np.concatenate([t for t, _ in parts])
        pr = np.concatenate([q for _, q in parts])
        for c in data.corpora:
            sel = corpus[te] == c
            sub = list(data.corpus_labels[c])
            yt = np.array([sub.index(data.labels[i]) for i in data.y[te][sel]])
            yp = np.array([sub.index(data.labels[i]) for i in pr[sel]])
            m = classification_metrics(yt, yp, sub)
            ci = bootstrap_ci(yt, yp, sub, groups=data.groups[te][sel])
            rows.append({"kind": kind, "corpus": c, "n": m["n"],
                         **{k: {"value": m[k], "low": ci[k]["low"], "high": ci[k]["high"]}
                            for k in ("accuracy", "balanced_accuracy", "macro_f1")}})
    figures = {"task": "voice-cross-baseline", "features": "mean+std over frames of the recipe's features (384)",
               "model": "masked softmax regression", "rows": rows}
    out = common.write_result(NAME, figures, title="Voice across corpora: pooled linear baseline")
    for r in rows:
        print(f"{r['kind']:<17} {r['corpus']:<8} n={r['n']:<5} acc {r['accuracy']['value']:.3f}  "
              f"UAR {r['balanced_accuracy']['value']:.3f}  F1 {r['macro_f1']['value']:.3f}")
    print(out)


if __name__ == "__main__":
    common.run_main(main)
