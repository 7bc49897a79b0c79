"""Voice across corpora: leave-one-corpus-out and within-corpus speaker-independent rows.

Corpora: RAVDESS (English, actors 01-20, 8 classes), EMOVO (Italian, 6 speakers, 7 classes),
URDU (Urdu talk shows, 29 speaker codes, 4 classes). A recipe (``configs/voice/cross_<recipe>.yaml``)
is trained twice by :mod:`emorec.training.voice.multi`:

- ``corpus-kfold``: speaker-independent 5-fold within every corpus at once (fold k tests fold k of
  each corpus's speakers; training uses the other folds of all three corpora);
- ``leave-corpus-out``: trained on two corpora, tested on the third, the argmax restricted to the
  held-out corpus's classes that training had (RAVDESS "calm" is in neither EMOVO nor URDU: those
  clips count as wrong).

Scores: accuracy, balanced accuracy (UAR) and macro-F1 per corpus with 95% bootstrap intervals
resampled by speaker. The 12 CREMA-D clips of ../shared/data/crema-d-sample (never trained on) are
run one by one through the shipped model (or ``--model``) as examples: too few for a number.

    python benchmarks/accuracy_voice_cross.py --train --recipe channel   # trains (CPU: about 1 h per recipe)
    python benchmarks/accuracy_voice_cross.py                            # reads the run dirs, writes the JSON
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

if __package__:  # `python -m benchmarks.NAME`, or imported as a module of the benchmarks package
    from benchmarks import common
else:  # `python benchmarks/NAME.py`: this folder is already sys.path[0]
    import common

NAME = "accuracy_voice_cross"
RUNS = common.REPO_ROOT / "benchmarks" / "runs" / "voice_cross"
PROTOCOLS = ("corpus-kfold", "leave-corpus-out")
CORPUS_TITLES = {"ravdess": "RAVDESS (English, acted)", "emovo": "EMOVO (Italian, acted)",
                 "urdu": "URDU (Urdu, talk shows)"}


def config_path(recipe: str) -> Path:
    return common.REPO_ROOT / "configs" / "voice" / f"cross_{recipe}.yaml"


def train(recipe: str, protocol: str, data: str | None, only: list[str]) -> None:
    from emorec.training.config import load_config
    from emorec.training.voice.multi import MultiCorpusConfig, run

    out = RUNS / recipe / protocol
    overrides: dict[str, Any] = {"protocol": protocol, "out": str(out), "data": data}
    if only and protocol == "leave-corpus-out":
        overrides["hold_out"] = only
    elif only:
        overrides["only_folds"] = [int(x) for x in only]
    cfg = load_config(MultiCorpusConfig, config_path(recipe), overrides)
    run(cfg, resume=True, progress=True)


def load_predictions(run_dir: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """Run config and the predictions of every finished split under ``run_dir`` (partial runs included)."""
    import yaml

    files = sorted(run_dir.glob("*/predictions.npz"))
    if not files or not (run_dir / "config.yaml").is_file():
        return None
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    parts = []
    for f in files:
        with np.load(f) as p:
            parts.append({k: p[k] for k in p.files})
    return config, {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def corpus_rows(run_dir: Path, protocol: str, only_split: str | None = None,
                bootstrap: bool = True) -> list[dict[str, Any]]:
    from emorec.evaluation.bootstrap import bootstrap_ci
    from emorec.evaluation.metrics import classification_metrics

    loaded = load_predictions(run_dir)
    if loaded is None:
        return []
    config, preds = loaded
    if only_split is not None:
        keep = preds["split"] == only_split
        preds = {k: v[keep] for k, v in preds.items()}
    labels = config["labels"]
    rows = []
    for corpus in sorted(set(preds["corpus"].tolist())):
        sel = preds["corpus"] == corpus
        sub = list(config["corpus_labels"][corpus])
        yt = np.array([sub.index(labels[i]) for i in preds["y_true"][sel]])
        yp = np.array([sub.index(labels[i]) for i in preds["y_pred"][sel]])
        m = classification_metrics(yt, yp, sub)
        ci = bootstrap_ci(yt, yp, sub, groups=preds["groups"][sel]) if bootstrap else None
        splits = sorted(set(preds["split"][sel].tolist()))
        if protocol == "leave-corpus-out":
            trained_on = sorted(resolve_name(c) for c in config["corpus"] if resolve_name(c) != corpus)
            proto = (f"leave-one-corpus-out: trained on {' + '.join(trained_on)}, argmax over its "
                     f"{len(sub)} classes")
        else:
            k = int(config.get("folds", 5))
            proto = f"speaker-independent {k}-fold within each corpus, trained on all three corpora"
            if len(splits) < k:
                proto += f" ({', '.join(splits)} only)"
        fig = common.accuracy_figures(m, ci, task="voice", dataset=CORPUS_TITLES.get(corpus, corpus), protocol=proto)
        fig.update(corpus=corpus, kind=protocol, splits=splits, run_dir=str(run_dir.relative_to(common.REPO_ROOT)))
        rows.append(fig)
    return rows


def resolve_name(spec: str) -> str:
    return spec.partition("=")[0].strip().lower().replace("-", "").replace("_", "")


def dev_comparison(recipes: list[str]) -> dict[str, Any]:
    """The recipe choice: mean within-corpus UAR on corpus-kfold fold 1 (a development split, no held-out corpus)."""
    out: dict[str, Any] = {"rule": "ship the recipe with the highest mean within-corpus balanced accuracy over the "
                                   "three corpora on corpus-kfold fold_01; channel augmentation is kept unless it "
                                   "loses by more than 1 point (applied to fold_01 alone; no leave-one-corpus-out score took part)",
                           "recipes": {}}
    for recipe in recipes:
        rows = corpus_rows(RUNS / recipe / "corpus-kfold", "corpus-kfold", only_split="fold_01", bootstrap=False)
        if rows:
            uar = {r["corpus"]: r["balanced_accuracy"]["value"] for r in rows}
            out["recipes"][recipe] = {"fold_01_balanced_accuracy": uar, "mean": float(np.mean(list(uar.values())))}
    return out


def cremad_examples(model: str | None, data: str | None) -> dict[str, Any]:
    """The 12 CREMA-D clips one by one (WAV, and the MP3/FLV copies where they exist)."""
    from emorec.datasets.cremad import load_cremad
    from emorec.paths import data_root
    from emorec.voice.recognizer import VoiceEmotionRecognizer

    try:
        root = data_root(data) / "crema-d-sample"
    except Exception as exc:
        raise common.MissingPrerequisite(str(exc)) from None
    if not root.is_dir():
        raise common.MissingPrerequisite(f"{root} not found")
    rec = VoiceEmotionRecognizer(model)
    scans = {layout: load_cremad(root, layout=layout) for layout in ("wav", "mp3", "flv")}
    # The same model with its argmax over CREMA-D's classes (`--labels`), as held-out corpora are scored.
    own = [lab for lab in rec.labels if lab in {r.label for s in scans.values() for r in s.records}]
    restricted = VoiceEmotionRecognizer(model, labels=own) if len(own) >= 2 else None
    clips = []
    for layout, scan in scans.items():
        for r in scan.records:
            result = rec.predict(r.path)
            clip = {"file": f"{r.path.parent.name}/{r.path.name}", "layout": layout, "true": r.label,
                    "predicted": result.label, "score": result.score, "error": result.error,
                    "right": result.label == r.label}
            if restricted is not None:
                clip["predicted_restricted"] = restricted.predict(r.path).label
            clips.append(clip)
    wav = [c for c in clips if c["layout"] == "wav"]
    out = {"model": rec.card.name, "clips": clips, "wav_n": len(wav), **_tally(wav, "predicted", "")}
    if restricted is not None:
        out.update(restricted_labels=own, **_tally(wav, "predicted_restricted", "_restricted"))
    return {**out, "note": "examples, too few for an accuracy claim; never trained on; *_restricted: the argmax over "
                           "CREMA-D's classes (emorec voice predict --labels)"}


def _tally(clips: list[dict[str, Any]], key: str, suffix: str) -> dict[str, Any]:
    """How many of ``clips`` are right by ``key``, and how often each label is given."""
    counts: dict[str, int] = {}
    for c in clips:
        counts[str(c[key])] = counts.get(str(c[key]), 0) + 1
    return {f"wav_right{suffix}": sum(c[key] == c["true"] for c in clips), f"wav_predicted_counts{suffix}": counts,
            f"max_same_label{suffix}": max(counts.values()) if counts else 0}


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--recipe", default=None, help="recipe name (configs/voice/cross_NAME.yaml); default: every "
                                                   "recipe with run dirs, the first of 'shipped' order for the headline")
    p.add_argument("--train", action="store_true", help="train the recipe's runs first (resumable)")
    p.add_argument("--protocol", choices=PROTOCOLS, action="append", help="only this protocol (repeatable)")
    p.add_argument("--only", nargs="*", default=[], help="with --train: these held-out corpora / fold numbers")
    p.add_argument("--model", default=None, help="ONNX voice model for the CREMA-D examples (default: shipped)")
    p.add_argument("--headline", default="channel", help="recipe whose rows the README table shows")
    args = p.parse_args()
    protocols = args.protocol or list(PROTOCOLS)
    if args.train:
        if not args.recipe:
            raise SystemExit("--train needs --recipe NAME")
        for protocol in protocols:
            train(args.recipe, protocol, args.data, args.only)
    recipes = [args.recipe] if args.recipe else sorted(d.name for d in RUNS.iterdir() if d.is_dir()) \
        if RUNS.is_dir() else []
    by_recipe: dict[str, list[dict[str, Any]]] = {}
    for recipe in recipes:
        rows = []
        for protocol in PROTOCOLS:
            rows += corpus_rows(RUNS / recipe / protocol, protocol)
        if rows:
            by_recipe[recipe] = rows
    if not by_recipe:
        raise common.MissingPrerequisite(f"no finished runs under {RUNS}: run with --train --recipe channel")
    headline = args.headline if args.headline in by_recipe else sorted(by_recipe)[0]
    examples = cremad_examples(args.model, args.data)
    figures = {
        "task": "voice-cross",
        "headline_recipe": headline,
        "rows": by_recipe[headline],
        "recipes": {r: {"config": str(config_path(r).relative_to(common.REPO_ROOT)),
                        "rows": [{k: row[k] for k in ("corpus", "kind", "splits", "n", "accuracy",
                                                      "balanced_accuracy", "macro_f1")} for row in rows]}
                    for r, rows in by_recipe.items()},
        "cremad_examples": examples,
        "recipe_choice": dev_comparison(sorted(by_recipe)),
    }
    notes = ["Recipes are compared on the within-corpus (corpus-kfold) rows; the leave-one-corpus-out rows are "
             "reported for every recipe and were not used to choose one.",
             "The leaky-protocol RAVDESS row of the old recipe (3 more folds, about 3 h of CPU) was not finished."]
    out = common.write_result(NAME, figures, quick=args.quick, title="Voice across corpora", notes=notes)
    for recipe, rows in by_recipe.items():
        for row in rows:
            print(f"{recipe:<10} {row['kind']:<17} {row['corpus']:<8} n={row['n']:<5} "
                  f"acc {row['accuracy']['value']:.3f}  UAR {row['balanced_accuracy']['value']:.3f}  "
                  f"F1 {row['macro_f1']['value']:.3f}")
    print(f"CREMA-D clips ({examples['model']}): {examples['wav_right']}/{examples['wav_n']} right, "
          f"most frequent label {examples['max_same_label']} times -> {out}")


if __name__ == "__main__":
    common.run_main(main)
