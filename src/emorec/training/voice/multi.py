"""Multi-corpus voice training: several corpora, each with the label set it can honour.

Label policy (``label_policy``, written into the model card):

- ``mask`` (default): the model has the union of the corpora's classes; for a
  clip of corpus C the softmax and the loss run over C's classes only (the
  other logits are masked out), so a corpus without "calm" never teaches the
  model that its clips are "not calm". Label smoothing spreads only over C's classes.
- ``shared``: only the classes present in every corpus are kept.

Sampling: every training batch is drawn with replacement, each corpus weighted
by sqrt(its clips) and, within a corpus, every class equally (``balance``), so
a large corpus does not drown a small one and class priors of one corpus are
not learned as cues.

Protocols (who is on which side; every split checked):

- ``corpus-kfold``: speaker-independent k-fold *within each corpus*: fold k
  tests fold k of every corpus's speakers at once, trained on the other folds
  of all corpora (within-corpus rows, speaker-independent).
- ``leave-corpus-out``: train on all corpora but one, test on that one; its
  scores use the argmax over the held-out corpus's classes (``restrict``).
- ``all``: everything trains (the shipped model).

Augmentation only touches training-fold items: stored channel copies
(:mod:`emorec.training.voice.channel_augment`) and the feature-domain augmentation
of :class:`emorec.training.voice.data.VoiceItems` are drawn only by
``VoiceItems(train=True)``; test items are the stored original features.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from emorec.datasets.audio_corpus import AudioRecord, CorpusScan
from emorec.errors import DatasetError, EmorecError
from emorec.labels import ordered
from emorec.training.voice.channel_augment import ChannelAugmentConfig, channel_augment
from emorec.training.voice.cache import FeatureCache, file_sha256
from emorec.training.voice.config import VoiceTrainConfig
from emorec.training.voice.data import VoiceItems, collate
from emorec.training.voice.members import _architecture, build_run_model, member_spec
from emorec.voice.features import base_features, finalize

log = logging.getLogger(__name__)

LABEL_POLICIES = ("mask", "shared")
MULTI_PROTOCOLS = ("corpus-kfold", "leave-corpus-out", "all")


def load_corpus(name: str, path: str | Path) -> CorpusScan:
    """Scan corpus ``name`` at ``path`` with its loader (see :mod:`emorec.datasets.speech_corpora`)."""
    from emorec.datasets.speech_corpora import SPEECH_CORPORA

    if name not in SPEECH_CORPORA:
        raise DatasetError(f"corpus {name!r} unknown: use one of {', '.join(sorted(SPEECH_CORPORA))}")
    return SPEECH_CORPORA[name].load(path)


def resolve_corpus(spec: str, data: str | None) -> tuple[str, Path]:
    """``NAME`` (a folder under the data root) or ``NAME=PATH`` -> (name, folder)."""
    from emorec.datasets.speech_corpora import SPEECH_CORPORA
    from emorec.paths import data_root

    name, _, explicit = spec.partition("=")
    name = name.strip().lower().replace("-", "").replace("_", "")
    if explicit.strip():
        path = Path(explicit.strip()).expanduser()
        if not path.is_dir():
            raise DatasetError(f"{name} folder {path} not found")
        return name, path
    root = data_root(data)
    if name not in SPEECH_CORPORA:
        raise DatasetError(f"corpus {name!r} unknown: use one of {', '.join(sorted(SPEECH_CORPORA))}")
    for folder in SPEECH_CORPORA[name].folders:
        if (root / folder).is_dir():
            return name, root / folder
    raise DatasetError(f"no {name} folder under {root}: pass --corpus {name}=PATH")


@dataclass
class MultiCorpusConfig(VoiceTrainConfig):
    """A :class:`VoiceTrainConfig` over several corpora (``corpus``: names or NAME=PATH)."""

    corpus: list[str] = field(default_factory=lambda: ["ravdess", "emovo", "urdu"])
    protocol: str = "corpus-kfold"
    label_policy: str = "mask"
    balance: bool = True  # corpus weight sqrt(n), classes equal within a corpus
    hold_out: list[str] = field(default_factory=list)  # leave-corpus-out: these corpora only (empty: each in turn)
    channel_copies: int = 0  # stored channel-augmented copies per clip (training folds draw them)
    channel_augment: dict[str, Any] = field(default_factory=lambda: ChannelAugmentConfig().to_dict())
    val_speakers: int = 0  # no early stopping: a fixed number of epochs, nothing tuned on held-out speakers
    epochs: int = 30


@dataclass
class MultiData:
    records: list[AudioRecord]
    labels: list[str]  # the union (mask) or the shared set, canonical order
    corpora: list[str]
    corpus_labels: dict[str, list[str]]
    summaries: list[str]
    bases: list[np.ndarray]
    copies: list[list[np.ndarray]]

    @property
    def corpus_of(self) -> np.ndarray:
        return np.array([self.corpora.index(r.corpus) for r in self.records])

    @property
    def y(self) -> np.ndarray:
        return np.array([self.labels.index(r.label) for r in self.records], dtype=np.int64)

    @property
    def groups(self) -> np.ndarray:
        return np.array([r.speaker for r in self.records])

    def class_mask(self) -> np.ndarray:
        """(n_corpora, n_labels) 1 where the corpus has the class."""
        m = np.zeros((len(self.corpora), len(self.labels)), dtype=np.float32)
        for i, c in enumerate(self.corpora):
            for lab in self.corpus_labels[c]:
                if lab in self.labels:
                    m[i, self.labels.index(lab)] = 1.0
        return m


def _variant(k: int, cfg: ChannelAugmentConfig) -> str:
    key = hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:6]
    return f"ch{k}-{key}"


def load_data(cfg: MultiCorpusConfig, progress: bool = True) -> MultiData:
    """Scan the corpora, apply the label policy, and load (or compute and cache) features."""
    from tqdm.auto import tqdm

    from emorec.voice.audio import read_audio, trim_silence

    if cfg.label_policy not in LABEL_POLICIES:
        raise EmorecError(f"label policy {cfg.label_policy!r} unknown: use {' or '.join(LABEL_POLICIES)}")
    scans = [load_corpus(*resolve_corpus(spec, cfg.data)) for spec in cfg.corpus]
    corpus_labels = {s.corpus: ordered(r.label for r in s.records) for s in scans}
    if cfg.label_policy == "shared":
        keep = set.intersection(*(set(v) for v in corpus_labels.values()))
    else:
        keep = set().union(*(set(v) for v in corpus_labels.values()))
    labels = ordered(keep)
    records = [r for s in scans for r in s.records if r.label in keep]
    if cfg.limit_speakers:
        speakers = {s.corpus: sorted({r.speaker for r in s.records})[: cfg.limit_speakers] for s in scans}
        records = [r for r in records if r.speaker in speakers[r.corpus]]
    if not records:
        raise DatasetError("no clips left after applying the label policy")
    corpus_labels = {c: [lab for lab in v if lab in keep] for c, v in corpus_labels.items()}
    feat = cfg.feature_config()
    cache = FeatureCache(cfg.cache, feat) if cfg.cache else None
    aug = ChannelAugmentConfig.from_dict(cfg.channel_augment)
    variants = [_variant(k, aug) for k in range(cfg.channel_copies)]
    bases, copies = [], []
    for rec in tqdm(records, desc="features", disable=not progress, leave=False):
        sha = file_sha256(rec.path)
        wanted = ["orig", *variants]
        found = {v: cache.get(sha, v) if cache is not None else None for v in wanted}
        missing = [v for v in wanted if found[v] is None]
        if missing:
            x = read_audio(rec.path, feat.sample_rate, allow_silent=True)
            if feat.trim_db is not None:
                x = trim_silence(x, feat.sample_rate, feat.trim_db)
            for v in missing:
                if v == "orig":
                    wave = x
                else:
                    rng = np.random.default_rng([int(sha[:12], 16), int(v[2:].split("-")[0]), 17])
                    wave = channel_augment(x, rng, aug)
                arr = base_features(wave, feat, trimmed=True).astype(np.float16)
                found[v] = arr
                if cache is not None:
                    cache.put(sha, arr, v)
        bases.append(found["orig"])
        copies.append([found[v] for v in variants])
    summaries = [s.summary() for s in scans]
    return MultiData(records, labels, [s.corpus for s in scans], corpus_labels, summaries, bases, copies)


# -- folds ----------------------------------------------------------------------------------------

def corpus_kfold(data: MultiData, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Speaker-independent k-fold within each corpus; fold i tests fold i of every corpus."""
    from emorec.datasets.splits import assert_disjoint, grouped_kfold

    groups = data.groups
    corpus = data.corpus_of
    test_of = np.full(len(groups), -1)
    for c in range(len(data.corpora)):
        idx = np.flatnonzero(corpus == c)
        n_spk = len(set(groups[idx].tolist()))
        kc = min(k, n_spk)
        strata = {r.speaker: str(r.meta.get("sex", "")) for r in (data.records[i] for i in idx)}
        for f, (_, te) in enumerate(grouped_kfold(groups[idx], kc, seed, strata)):
            test_of[idx[te]] = f
    folds = []
    all_idx = np.arange(len(groups))
    for f in range(k):
        te = all_idx[test_of == f]
        tr = all_idx[test_of != f]
        assert_disjoint(tr, te, groups)
        folds.append((tr, te))
    return folds


def leave_corpus_out(data: MultiData, held_out: str) -> tuple[np.ndarray, np.ndarray]:
    """(train, test): every clip of ``held_out`` is in test, none in train."""
    corpus = np.array([r.corpus for r in data.records])
    idx = np.arange(len(corpus))
    tr, te = idx[corpus != held_out], idx[corpus == held_out]
    if len(te) == 0:
        raise DatasetError(f"corpus {held_out!r} is not among {data.corpora}")
    assert not set(corpus[tr]) & {held_out}
    return tr, te


# -- training ------------------------------------------------------------------------------------

def corpus_class_weights(corpus: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-item weights summing to 1: corpus share sqrt(n_c), classes equal within each corpus."""
    w = np.zeros(len(y))
    sizes = {c: int(np.sum(corpus == c)) for c in set(corpus.tolist())}
    total = sum(np.sqrt(n) for n in sizes.values())
    for c, n in sizes.items():
        in_c = corpus == c
        classes = sorted(set(y[in_c].tolist()))
        for k in classes:
            sel = in_c & (y == k)
            w[sel] = (np.sqrt(n) / total) / (len(classes) * sel.sum())
    return w / w.sum()


def sample_weights(data: MultiData, idx: np.ndarray) -> np.ndarray:
    """Per-item weights of the training items ``idx`` (:func:`corpus_class_weights`)."""
    return corpus_class_weights(data.corpus_of[idx], data.y[idx])


def masked_loss(mask: torch.Tensor, n_labels: int, smoothing: float):
    """Loss hook for :class:`Trainer`: targets arrive as ``label + n_labels * corpus``."""

    def loss_fn(model, batch, trainer):
        *inputs, code = batch
        y, corpus = code % n_labels, code // n_labels
        logits = model(*inputs).float()
        m = mask.to(logits.device)[corpus]
        masked = logits.masked_fill(m == 0, -1e4)
        logp = F.log_softmax(masked, dim=1)
        target = F.one_hot(y, n_labels).float() * (1 - smoothing) + smoothing * m / m.sum(1, keepdim=True)
        loss = -(target * logp).sum(1).mean()
        return loss, masked, y

    return loss_fn


def fit_members(cfg: MultiCorpusConfig, data: MultiData, train_idx: np.ndarray, out_dir: Path,
                resume: bool = False) -> list:
    """Train ``cfg.ensemble`` members on ``train_idx``; returns their trainers (best = last epoch)."""
    from emorec.training.trainer import Trainer, TrainConfig, set_seed
    from emorec.training.voice.augment import FeatureAugmentConfig
    from emorec.training.voice.models import frame_norm_numpy

    feat = cfg.feature_config()
    labels = data.labels
    n = len(labels)
    mask = torch.from_numpy(data.class_mask())
    code = data.y + n * data.corpus_of
    max_train = int(cfg.train_seconds * feat.frames_per_second)
    augment = FeatureAugmentConfig.from_dict(cfg.augment) if cfg.feature_augment else None
    trainers = []
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    for k in range(1, max(1, cfg.ensemble) + 1):
        member_dir = out_dir / f"member_{k:02d}" if cfg.ensemble > 1 else out_dir
        seed = cfg.seed + 101 * (k - 1)
        set_seed(seed)
        model = build_run_model(asdict(cfg), n, member=k)
        mode = model.frame_norm.mode
        frames = np.concatenate([frame_norm_numpy(finalize(data.bases[i], feat), mode) for i in train_idx])
        model.norm.set_stats(frames.mean(0), frames.std(0))
        tcfg = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay,
                           warmup_epochs=cfg.warmup_epochs, patience=0, label_smoothing=0.0,
                           class_balanced=False, seed=seed, device="cpu", amp=False)
        trainer = Trainer(model, tcfg, member_dir, n_classes=n,
                          loss_fn=masked_loss(mask, n, cfg.label_smoothing))
        done = member_dir / "finished.json"
        spec = {**member_spec(asdict(cfg), k), "epochs": cfg.epochs}
        if resume and done.is_file() and json.loads(done.read_text()) == json.loads(json.dumps(spec, sort_keys=True)):
            trainer.load_best()
            trainers.append(trainer)
            continue
        items = VoiceItems([data.bases[i] for i in train_idx], code[train_idx], feat, True, max_train,
                           [data.copies[i] for i in train_idx], augment, seed=seed)
        weights = sample_weights(data, train_idx) if cfg.balance else np.full(len(train_idx), 1.0 / len(train_idx))
        g = torch.Generator().manual_seed(seed)
        sampler = torch.utils.data.WeightedRandomSampler(torch.from_numpy(weights), len(train_idx), replacement=True,
                                                         generator=g)
        loader = torch.utils.data.DataLoader(items, batch_size=cfg.batch_size, sampler=sampler, collate_fn=collate)
        trainer.fit(loader, None, resume=resume)
        done.write_text(json.dumps(spec, sort_keys=True) + "\n", encoding="utf-8")
        (member_dir / "checkpoint.pt").unlink(missing_ok=True)
        trainers.append(trainer)
    return trainers


def predict(cfg: MultiCorpusConfig, data: MultiData, trainers: list, idx: np.ndarray) -> np.ndarray:
    """Mean probabilities of the members over the union labels for the clips ``idx`` (no augmentation)."""
    feat = cfg.feature_config()
    items = VoiceItems([data.bases[i] for i in idx], data.y[idx], feat, False,
                       int(cfg.eval_max_seconds * feat.frames_per_second))
    loader = torch.utils.data.DataLoader(items, batch_size=64, shuffle=False, collate_fn=collate)
    return np.mean([t.predict(loader) for t in trainers], axis=0)


def restrict(probs: np.ndarray, labels: list[str], allowed: list[str]) -> np.ndarray:
    """Argmax over ``allowed`` classes only, as indices into ``labels``."""
    cols = [labels.index(a) for a in allowed if a in labels]
    sub = probs[:, cols]
    return np.array(cols)[sub.argmax(1)]


def run(cfg: MultiCorpusConfig, resume: bool = True, progress: bool = True) -> dict[str, Any]:
    """Train per ``cfg.protocol`` into ``cfg.out`` and return the run's metrics (also in metrics.json)."""
    from emorec.evaluation.metrics import classification_metrics
    from emorec.training.config import save_config

    if cfg.protocol not in MULTI_PROTOCOLS:
        raise EmorecError(f"protocol {cfg.protocol!r} unknown: use one of {', '.join(MULTI_PROTOCOLS)}")
    data = load_data(cfg, progress)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml", {"labels": data.labels, "corpora": data.summaries,
                                           "corpus_labels": data.corpus_labels})
    if progress:
        for line in data.summaries:
            print(line)
    y, groups = data.y, data.groups
    corpus = np.array([r.corpus for r in data.records])
    paths = np.array([str(r.path) for r in data.records])
    result: dict[str, Any] = {"protocol": cfg.protocol, "k": cfg.folds, "labels": data.labels, "corpora": data.corpora,
                              "corpus_labels": data.corpus_labels, "label_policy": cfg.label_policy,
                              "architecture": _architecture(asdict(cfg))}
    if cfg.protocol == "all":
        fit_members(cfg, data, np.arange(len(y)), out, resume)
        result.update(trained_on_all=True, n_train=len(y))
        (out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        return result

    if cfg.protocol == "corpus-kfold":
        splits = [(f"fold_{i:02d}", tr, te) for i, (tr, te) in enumerate(corpus_kfold(data, cfg.folds, cfg.seed), 1)]
    else:
        held = cfg.hold_out or data.corpora
        splits = [(f"without_{c}", *leave_corpus_out(data, c)) for c in held]
    parts = []
    for i, (name, tr, te) in enumerate(splits, start=1):
        if cfg.only_folds and i not in cfg.only_folds:
            continue
        fold_dir = out / name
        pred_file = fold_dir / "predictions.npz"
        if resume and pred_file.is_file():
            with np.load(pred_file) as p:
                parts.append({k: p[k] for k in p.files})
            continue
        if progress:
            print(f"{name}: train {len(tr)} clips ({', '.join(sorted(set(corpus[tr])))}), test {len(te)}")
        trainers = fit_members(cfg, data, tr, fold_dir, resume)
        probs = predict(cfg, data, trainers, te)
        # Argmax over the test clip's corpus classes that training had (a class no training
        # corpus has, e.g. RAVDESS "calm" when RAVDESS is held out, is never predicted: its clips count as wrong).
        trained = {data.labels[k] for k in set(y[tr].tolist())}
        pred = np.zeros(len(te), dtype=np.int64)
        for c in set(corpus[te].tolist()):
            sel = corpus[te] == c
            pred[sel] = restrict(probs[sel], data.labels, [lab for lab in data.corpus_labels[c] if lab in trained])
        part = {"y_true": y[te], "y_pred": pred, "probs": probs.astype(np.float32), "groups": groups[te],
                "corpus": corpus[te], "paths": paths[te], "split": np.array([name] * len(te))}
        fold_dir.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(pred_file, **part)
        parts.append(part)
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    np.savez_compressed(out / "predictions.npz", **merged)
    per_corpus = {}
    for c in sorted(set(merged["corpus"].tolist())):
        sel = merged["corpus"] == c
        sub_labels = list(data.corpus_labels[c])
        yt = np.array([sub_labels.index(data.labels[i]) for i in merged["y_true"][sel]])
        yp = np.array([sub_labels.index(data.labels[i]) for i in merged["y_pred"][sel]])
        per_corpus[c] = classification_metrics(yt, yp, sub_labels)
    result["per_corpus"] = per_corpus
    (out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


# -- export of a multi-corpus run (the shipped model) ---------------------------------------------

def card_metrics(cross_json: str | Path) -> dict[str, Any]:
    """Both kinds of held-out scores for the card, from benchmarks/results/accuracy_voice_cross.json."""
    doc = json.loads(Path(cross_json).read_text(encoding="utf-8"))
    rows = {}
    for row in doc["figures"]["rows"]:
        key = f"{row['kind']}/{row['corpus']}"
        rows[key] = {"n": row["n"], "classes": len(row.get("labels") or []),
                     **{m: row[m]["value"] for m in ("accuracy", "balanced_accuracy", "macro_f1")},
                     "balanced_accuracy_ci95": [row["balanced_accuracy"].get("low"), row["balanced_accuracy"].get("high")],
                     "protocol": row["protocol"]}
    return {"source": "benchmarks/results/accuracy_voice_cross.json", "command": doc.get("command"),
            "recipe": doc["figures"].get("headline_recipe"), "rows": rows,
            "note": "scores of models trained with the same recipe on the training side of each split; "
                    "the shipped model itself trained on everything"}


def export_multi(run_dir: str | Path, out: str | Path, cross_json: str | Path | None = None,
                 name: str = "emorec-voice-multicorpus", compact: bool = True, overwrite: bool = False) -> Path:
    """Export a ``protocol: all`` multi-corpus run to ONNX + card (label policy, corpora, both kinds of metrics)."""
    from emorec.datasets.speech_corpora import corpus_license
    from emorec.training.voice.export import export_voice, read_run_config

    run_dir = Path(run_dir)
    path = export_voice(run_dir, out, name=name, overwrite=overwrite, compact=compact)
    data = read_run_config(run_dir)
    card_path = path.with_suffix(".json")
    card = json.loads(card_path.read_text(encoding="utf-8"))
    corpora = [resolve_name(c) for c in data.get("corpus", [])]
    card["training"].update({
        "protocol": "all: every clip of every corpus trains the shipped model",
        "label_policy": data.get("label_policy"),
        "label_policy_means": "per-class masking: each clip's softmax and loss run over its own corpus's classes",
        "corpus_labels": data.get("corpus_labels"),
        "balance": "each corpus weighted by sqrt(clips), classes equal within a corpus" if data.get("balance") else None,
        "channel_copies": data.get("channel_copies"),
        "channel_augment": data.get("channel_augment") if data.get("channel_copies") else None,
    })
    card["training"]["config"].update({k: data.get(k) for k in ("model_kwargs", "ensemble_kwargs")})
    command = str(data.get("command") or "")
    if command.startswith("emorec --config"):  # save_config names every run "emorec ..."; this one ran the module
        card["training"]["command"] = "python -m emorec.training.voice.multi" + command[len("emorec"):]
    try:
        card["training"]["run_dir"] = str(run_dir.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        pass
    if isinstance(card.get("input"), dict) and "policy" in card["input"]:
        card["input"]["policy"] += "; input loudness-normalised to -23 dBFS (gated RMS) before features"
    if cross_json is not None and Path(cross_json).is_file():
        card["metrics"] = card_metrics(cross_json)
    card["license"] = "Weights trained on " + corpus_license(corpora)
    card["notes"] = ("Acted speech (RAVDESS, EMOVO) and Urdu talk-show speech (URDU). Input is loudness-normalised "
                     "(gated RMS to -23 dBFS) and the features are level-invariant. Expect lower accuracy on other "
                     "languages, spontaneous and noisy speech. Metrics are held-out scores of the recipe "
                     "(benchmarks/accuracy_voice_cross.py)" + (", float32 fold models; the shipped weights are compact "
                                                               "(int8/float16)." if compact else "."))
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return path


def resolve_name(spec: str) -> str:
    return spec.partition("=")[0].strip().lower().replace("-", "").replace("_", "")


def main(argv: list[str] | None = None) -> int:
    """``python -m emorec.training.voice.multi --config CFG [--protocol all] --out DIR [--export MODEL.onnx]``."""
    import argparse

    from emorec.training.config import load_config

    p = argparse.ArgumentParser(description="multi-corpus voice training (see the module docstring)")
    p.add_argument("--config", required=True)
    p.add_argument("--protocol", choices=MULTI_PROTOCOLS, default=None)
    p.add_argument("--out", required=True)
    p.add_argument("--data", default=None)
    p.add_argument("--export", default=None, help="after training: export to this .onnx (card beside it)")
    p.add_argument("--metrics", default="benchmarks/results/accuracy_voice_cross.json")
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    cfg = load_config(MultiCorpusConfig, args.config, {"protocol": args.protocol, "out": args.out, "data": args.data})
    run(cfg, resume=True)
    if args.export:
        print(export_multi(args.out, args.export, args.metrics, overwrite=args.overwrite))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
