"""Regenerate the README's results tables from ``benchmarks/results/*.json``.

Each table lives between marker comments, e.g.::

    <!-- results:face:start -->
    ...generated...
    <!-- results:face:end -->

Sections: ``face`` and ``voice`` (accuracy benchmarks, by ``figures.task``),
``speed`` (``*_speed.json``, ``serve_load.json`` and results with
``figures.kind == "speed"``), ``leak`` (``leak_comparison.json``) and ``peer``
(``fer_peer.json``), ``detector`` (``face_detector.json``). Only the JSON files are read, so no README number is
typed by hand; the output depends on nothing else (no clock), so a second run
leaves the README byte-for-byte unchanged. A missing result renders as
"not measured yet (run: ...)".
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

SECTIONS = ("face", "voice", "voice_cross", "frontends", "channel", "speed", "leak", "peer", "detector", "photos")
VOICE_WORDS = ("voice", "ravdess", "crema", "savee", "speech", "audio")
SPEED_NAMES = ("face_speed", "voice_speed", "serve_load", "train_speed", "voice_compact")
RUN_ALL = "python benchmarks/run_all.py"


def markers(section: str) -> tuple[str, str]:
    return f"<!-- results:{section}:start -->", f"<!-- results:{section}:end -->"


# ---------------------------------------------------------------------------
# loading


def load_results(results_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Every ``*.json`` result document by name; unreadable files are skipped."""
    out: dict[str, dict[str, Any]] = {}
    folder = Path(results_dir)
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        if path.stem == "summary":
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(doc, dict) and isinstance(doc.get("figures"), dict):
            out[path.stem] = doc
    return out


def benchmark_scripts(bench_dir: str | Path) -> list[str]:
    folder = Path(bench_dir)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.py")
                  if p.stem not in ("common", "run_all") and not p.stem.startswith("_"))


# ---------------------------------------------------------------------------
# formatting


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def pct(x: Any, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%" if _finite(x) else "n/a"


def with_ci(score: Any) -> str:
    """{"value", "low", "high"} (or a bare number) -> '71.3% [69.8, 72.8]'."""
    if isinstance(score, Mapping):
        value, low, high = score.get("value"), score.get("low"), score.get("high")
    else:
        value, low, high = score, None, None
    text = pct(value)
    if _finite(low) and _finite(high):
        text += f" [{100 * low:.1f}, {100 * high:.1f}]"
    return text


def number(x: Any, unit: str = "") -> str:
    if not _finite(x):
        return "n/a"
    if isinstance(x, int):
        return f"{x:,} {unit}".strip()
    x = float(x)
    if abs(x) >= 100:
        text = f"{x:,.0f}"
    elif abs(x) >= 10:
        text = f"{x:.1f}"
    elif abs(x) >= 0.1:
        text = f"{x:.2f}"
    else:
        text = f"{x:.3g}"
    return f"{text} {unit}".strip()


def cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def code(text: Any) -> str:
    return f"`{text}`" if text else "n/a"


def table(headers: list[str], rows: Iterable[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines


def measured(doc: Mapping[str, Any]) -> str:
    stamp = str(doc.get("timestamp", ""))[:10] or "n/a"
    return f"{stamp}{' (quick)' if doc.get('mode') == 'quick' else ''}"


def not_measured(command: str) -> str:
    return f"not measured yet (run: `{command}`)"


def machines_line(docs: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per distinct machine/version the rows were measured with."""
    seen: list[str] = []
    for doc in docs:
        m, v = doc.get("machine", {}), doc.get("versions", {})
        commit = (v.get("commit") or "")[:10]
        dirty = " (uncommitted changes)" if v.get("dirty") else ""
        text = (f"{m.get('cpu', 'unknown CPU')}, {m.get('logical_cores', '?')} cores, {m.get('ram_gb', '?')} GB RAM, "
                f"{m.get('os', '?')}; Python {v.get('python', '?')}, onnxruntime {v.get('onnxruntime', '?')}, "
                f"emorec {v.get('emorec', '?')}" + (f" at {commit}{dirty}" if commit else ""))
        if text not in seen:
            seen.append(text)
    return [f"Measured on: {t}." for t in seen]


# ---------------------------------------------------------------------------
# sections


def _task_of_name(name: str) -> str:
    return "voice" if any(w in name.lower() for w in VOICE_WORDS) else "face"


def render_accuracy(task: str, results: Mapping[str, Mapping[str, Any]], scripts: list[str]) -> list[str]:
    docs = {n: d for n, d in results.items()
            if d["figures"].get("task") == task and isinstance(d["figures"].get("accuracy"), (Mapping, float, int))}
    rows = []
    for name, doc in docs.items():
        f = doc["figures"]
        protocol = str(f.get("protocol", "n/a"))
        spread = f.get("across_folds") or {}
        acc_spread = spread.get("accuracy") if isinstance(spread, Mapping) else None
        if isinstance(acc_spread, Mapping) and _finite(acc_spread.get("mean")):
            protocol += f"; per fold {pct(acc_spread['mean'])} ± {pct(acc_spread.get('std'))}"
        rows.append([f.get("dataset", name), protocol, f.get("n", "n/a"), with_ci(f.get("accuracy")),
                     with_ci(f.get("balanced_accuracy")), with_ci(f.get("macro_f1")), measured(doc),
                     code(doc.get("command"))])
    for name in scripts:
        if name.startswith("accuracy") and name not in results and _task_of_name(name) == task:
            rows.append([name, not_measured(f"python benchmarks/{name}.py"), "", "", "", "", "", ""])
    if not rows:
        return [not_measured(RUN_ALL)]
    lines = table(["Data", "Protocol", "n", "Accuracy [95% CI]", "Balanced accuracy [95% CI]",
                   "Macro-F1 [95% CI]", "Measured", "Command"], rows)
    return lines + ["", *machines_line(docs.values())]


_UNIT_SUFFIXES = (
    ("_per_s", "/s"), ("_ms", "ms"), ("_mb", "MB"), ("_gb", "GB"), ("_seconds", "s"), ("_s", "s"),
)
_SKIP_LEAVES = {"mean_ms", "min_ms", "max_ms", "warmup", "n", "schema", "items_per_call"}


def _flatten(prefix: str, value: Any, out: list[tuple[str, Any]]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            if k in _SKIP_LEAVES:
                continue
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif _finite(value):
        out.append((prefix, value))


def _unit(key: str) -> tuple[str, str]:
    leaf = key.rsplit(".", 1)[-1]
    for suffix, unit in _UNIT_SUFFIXES:
        if leaf.endswith(suffix):
            return key[: len(key) - len(suffix)] if key.endswith(suffix) else key, unit
    return key, ""


def headline_rows(figures: Mapping[str, Any]) -> list[tuple[str, str]] | None:
    """``figures["headline"]``: [{"label", "value", "unit"}, ...] chosen by the benchmark for the README."""
    items = figures.get("headline")
    if not isinstance(items, list):
        return None
    out = []
    for item in items:
        if isinstance(item, Mapping) and "label" in item:
            out.append((str(item["label"]), number(item.get("value"), str(item.get("unit", "")))))
    return out


def render_speed(results: Mapping[str, Mapping[str, Any]], scripts: list[str], max_rows: int = 12) -> list[str]:
    names = [n for n, d in results.items()
             if n in SPEED_NAMES or n.endswith("_speed") or d["figures"].get("kind") == "speed"]
    rows = []
    for name in names:
        doc = results[name]
        chosen = headline_rows(doc["figures"])
        limit = len(chosen) if chosen is not None else max_rows  # the benchmark's own choice is not cut
        if chosen is None:  # no headline list: the first numbers in figures, flattened
            leaves: list[tuple[str, Any]] = []
            _flatten("", {k: v for k, v in doc["figures"].items() if k != "kind"}, leaves)
            chosen = []
            for key, value in leaves:
                label, unit = _unit(key)
                chosen.append((label.replace(".", " ").replace("_", " "), number(value, unit)))
        more = len(chosen) - limit
        for i, (label, value) in enumerate(chosen[:limit]):
            rows.append([name if i == 0 else "", label, value,
                         measured(doc) if i == 0 else "", code(doc.get("command")) if i == 0 else ""])
        if more > 0:
            rows.append(["", f"... {more} more in benchmarks/results/{name}.json", "", "", ""])
    expected = [n for n in SPEED_NAMES if n in scripts and n not in results]
    for name in expected:
        rows.append([name, not_measured(f"python benchmarks/{name}.py"), "", "", ""])
    if not rows:
        return [not_measured(RUN_ALL)]
    return table(["Benchmark", "Measure", "Value", "Measured", "Command"], rows) + [
        "", *machines_line(results[n] for n in names)]


def render_leak(results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    doc = results.get("leak_comparison")
    if doc is None:
        return [not_measured("python benchmarks/leak_comparison.py")]
    f = doc["figures"]
    rows, leaks = [], []
    for side in ("face", "voice"):
        s = f.get(side)
        if not isinstance(s, Mapping):
            continue
        if s.get("status") != "ok":
            reason = str(s.get("reason", s.get("status")))
            reason = reason if len(reason) <= 200 else reason[:197] + "..."
            rows.append([side, s.get("dataset", ""), f"not measured: {reason}", "", "", "", "", ""])
            continue
        for row in s.get("protocols", []):
            protocol = row.get("label", row.get("protocol", ""))
            if row.get("folds"):
                protocol += f" ({row['folds']} folds, pooled)"
            rows.append([side, s.get("dataset", ""), protocol, "yes" if row.get("leaky") else "no",
                         row.get("n", "n/a"), with_ci(row.get("accuracy")), with_ci(row.get("balanced_accuracy")),
                         with_ci(row.get("macro_f1"))])
        lp = s.get("leak_points") or {}
        if _finite(lp.get("accuracy")):
            leaks.append(f"{side}: the leaky protocol reads {lp['accuracy']:+.1f} accuracy points "
                         f"({lp.get('balanced_accuracy', float('nan')):+.1f} balanced) against the honest one.")
    if not rows:
        return [not_measured("python benchmarks/leak_comparison.py")]
    lines = table(["Side", "Data", "Protocol", "Leaky", "n", "Accuracy [95% CI]", "Balanced accuracy [95% CI]",
                   "Macro-F1 [95% CI]"], rows)
    lines += ["", *leaks] if leaks else []
    if f.get("mode_note"):
        lines += ["", f"Note: {f['mode_note']}."]
    lines += ["", f"Command: {code(doc.get('command'))} ({measured(doc)}).", *machines_line([doc])]
    return lines


def render_peer(results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    doc = results.get("fer_peer")
    if doc is None:
        return [not_measured("python benchmarks/fer_peer.py")]
    f = doc["figures"]
    rows = []
    for key, name in (("emorec", "emorec (shipped model, ONNX Runtime)"), ("fer", "fer package (bundled TFLite)")):
        m = f.get(key) or {}
        lat = m.get("latency_single_crop") or {}
        rows.append([
            name + (f" {m['fer_version']}" if m.get("fer_version") else ""),
            with_ci(m.get("accuracy")), with_ci(m.get("balanced_accuracy")), with_ci(m.get("macro_f1")),
            number(m.get("throughput_batched_crops_per_s")), number(m.get("throughput_one_at_a_time_crops_per_s")),
            f"{number(lat.get('p50_ms'), 'ms')} / {number(lat.get('p95_ms'), 'ms')}",
            number(m.get("model_size_mb"), "MB"),
        ])
    lines = table(["Model", "Accuracy [95% CI]", "Balanced accuracy [95% CI]", "Macro-F1 [95% CI]",
                   "Crops/s, batched", "Crops/s, one at a time", "Latency p50 / p95 (1 crop)", "Model size"], rows)
    r = f.get("ratios") or {}
    ratio_bits = []
    if _finite(r.get("accuracy_points_emorec_minus_fer")):
        ratio_bits.append(f"accuracy {r['accuracy_points_emorec_minus_fer']:+.1f} points")
    if _finite(r.get("throughput_emorec_batched_over_fer_one_at_a_time")):
        ratio_bits.append(f"throughput {_times(r['throughput_emorec_batched_over_fer_one_at_a_time'])} "
                          "(emorec batched vs fer one at a time, as each package runs)")
    if _finite(r.get("latency_p50_emorec_over_fer")):
        ratio_bits.append(f"single-crop latency (p50) {_times(r['latency_p50_emorec_over_fer'])}")
    lines.append("")
    lines.append(f"FER2013 PrivateTest, n = {f.get('n', 'n/a')}"
                 + (f"; emorec vs fer: {', '.join(ratio_bits)}." if ratio_bits else "."))
    if f.get("how_run"):
        lines.append(f"How each was run: {f['how_run']}.")
    lines += [f"Command: {code(doc.get('command'))} ({measured(doc)}).", *machines_line([doc])]
    return lines


def render_detector(results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """``face_detector.json``: one row per backend/setting (the packaged default first)."""
    doc = results.get("face_detector")
    if doc is None:
        return [not_measured("python benchmarks/face_detector.py")]
    f = doc["figures"]
    rows = []
    for c in f.get("configurations") or []:
        side = "full size" if c.get("max_side") is None else f"{c['max_side']} px"
        opts = c.get("options") or {}
        if c.get("detector", "haar") == "haar":
            cascade = str(opts.get("cascade_path") or c.get("cascade") or "haarcascade_frontalface_alt2.xml")
            setting = (cascade.removeprefix("haarcascade_frontalface_").removesuffix(".xml") + " "
                       f"{opts.get('scale_factor', c.get('scale_factor'))} / {opts.get('min_neighbors', c.get('min_neighbors'))}"
                       f" / {opts.get('min_size', c.get('min_size'))} px")
        else:
            setting = f"score >= {opts.get('score_threshold')}"
        expw = pct(c.get("expw_recall")) if c.get("expw_recall") is not None else "n/a"
        if c.get("expw_recall_raw_boxes") is not None:
            expw += f" ({pct(c.get('expw_recall_raw_boxes'))})"
        rows.append([
            c.get("name"), c.get("detector", "haar"), cell(setting), side, "yes" if c.get("landmarks") else "no",
            pct(c.get("recall")), pct(c.get("border_recall")) if c.get("border_recall") is not None else "n/a",
            number(c.get("false_boxes_per_scene")), expw, number(c.get("expw_extra_boxes_per_photo")),
            number(c.get("photo_ms_median"), "ms"), number(c.get("photo_cpu_ms_median"), "ms"),
        ])
    lines = table(["Setting", "Backend", "Options", "Search image (long side)", "Landmarks", "Recall (scenes)",
                   "Recall (faces cut by the frame)", "False boxes per scene", "ExpW recall, squared (raw) boxes",
                   "ExpW extra boxes per photo", "ms per photo", "CPU ms per photo"], rows)
    lines.append("")
    lines.append(f"{f.get('faces', 'n/a')} {f.get('face_source', 'faces')} pasted at {f.get('face_sides_px', ['?', '?'])[0]}-"
                 f"{f.get('face_sides_px', ['?', '?'])[1]} px into {f.get('scenes', 'n/a')} cluttered 640x480 scenes "
                 f"(found = IoU >= {f.get('iou_match', 'n/a')})"
                 + (f", {f['border_scenes']} scenes with a face cut by the frame" if f.get("border_scenes") else "")
                 + (f"; {f['expw_photos']} {f.get('expw_source', 'ExpW photos')}: {f.get('box_convention')}"
                    if f.get("expw_photos") else "")
                 + f"; time: {f.get('timing', 'n/a')}.")
    lines += ["", f"Command: {code(doc.get('command'))} ({measured(doc)}).", *machines_line([doc])]
    return lines


def render_photos(results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """``face_photos.json``: the whole face pipeline on real photos and crop sets, emorec beside fer."""
    doc = results.get("face_photos")
    if doc is None:
        return [not_measured("python benchmarks/face_photos.py")]
    f = doc["figures"]
    rows = []
    for r in list(f.get("rows") or []) + list(f.get("peer_rows") or []):
        recall = pct(r.get("detection_recall")) if r.get("detection_recall") is not None else "crops (no detection)"
        per = r.get("per_class_recall") or {}
        name = r.get("dataset")
        if r.get("restricted_to"):
            name = f"{name}, classes both systems predict ({len(r['restricted_to'])})"
        rows.append([name, r.get("system"), r.get("n"), recall, with_ci(r.get("accuracy")),
                     with_ci(r.get("balanced_accuracy")), with_ci(r.get("macro_f1")),
                     pct(per.get("disgust")) if per.get("disgust") is not None else "n/a",
                     pct(per.get("fear")) if per.get("fear") is not None else "n/a"])
    lines = table(["Test set", "System", "Faces", "Faces detected", "Accuracy [95% CI]",
                   "Balanced accuracy [95% CI]", "Macro-F1 [95% CI]", "Disgust recall", "Fear recall"], rows)
    lines += ["", f"ExpW rows: the whole pipeline on {f['rows'][0].get('photos', 'n/a') if f.get('rows') else 'n/a'} "
              f"development photos (never trained on); a labelled face no detection matches (IoU >= "
              f"{f.get('iou_match')}, {f.get('box_convention')}) counts as wrong; intervals resample whole photos. "
              f"Other rows classify each dataset's own crops. emorec: `{f.get('model')}` with detector "
              f"{code(f.get('detector'))}; fer {((f.get('peer') or {}).get('fer_version')) or 'n/a'} with its own "
              "Haar detector and TFLite model, in the same run."]
    lines += ["", f"Command: {code(doc.get('command'))} ({measured(doc)}).", *machines_line([doc])]
    return lines


def render_voice_cross(results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """``accuracy_voice_cross.json``: per-corpus rows (within-corpus and leave-one-corpus-out) + CREMA-D examples."""
    doc = results.get("accuracy_voice_cross")
    if doc is None:
        return [not_measured("python benchmarks/accuracy_voice_cross.py")]
    f = doc["figures"]
    rows = []
    for r in f.get("rows", []):
        rows.append([r.get("dataset", r.get("corpus")), r.get("protocol", ""), r.get("n", ""),
                     with_ci(r.get("accuracy")), with_ci(r.get("balanced_accuracy")), with_ci(r.get("macro_f1"))])
    lines = table(["Test corpus", "Protocol", "n", "Accuracy [95% CI]", "Balanced accuracy [95% CI]",
                   "Macro-F1 [95% CI]"], rows)
    lines += ["", f"Recipe `{f.get('headline_recipe')}`; {measured(doc)}; command: {code(doc.get('command'))}."]
    other = {k: v for k, v in (f.get("recipes") or {}).items() if k != f.get("headline_recipe")}
    for name, rec in other.items():
        parts = [f"{r['kind']} {r['corpus']}" + (f" ({', '.join(r['splits'])})" if len(r.get("splits") or []) == 1 else "")
                 + f" {pct(r['balanced_accuracy']['value'])}" for r in rec.get("rows", [])]
        lines.append(f"Recipe `{name}` ({rec.get('config')}), balanced accuracy: " + "; ".join(parts) + ".")
    choice = f.get("recipe_choice") or {}
    if choice.get("recipes"):
        lines.append("Recipe choice (" + str(choice.get("rule", "")) + "): " + "; ".join(
            f"`{name}` mean {pct(r.get('mean'))}" for name, r in choice["recipes"].items()) + ".")
    ex = f.get("cremad_examples") or {}
    if ex.get("clips"):
        lines += ["", f"CREMA-D examples (never trained on; model `{ex.get('model')}`): "
                  f"{ex.get('wav_right')} of {ex.get('wav_n')} WAV clips right, the most frequent label given "
                  f"{ex.get('max_same_label')} times."
                  + (f" With the argmax over CREMA-D's {len(ex['restricted_labels'])} classes (`--labels "
                     f"{','.join(ex['restricted_labels'])}`): {ex.get('wav_right_restricted')} right, the most "
                     f"frequent label given {ex.get('max_same_label_restricted')} times."
                     if ex.get("restricted_labels") else ""), ""]
        extra = bool(ex.get("restricted_labels"))
        lines += table(["Clip", "True", "Predicted", "Score", *(["Over CREMA-D's classes"] if extra else [])],
                       [[c["file"], c["true"], c.get("predicted") or f"none ({c.get('error')})",
                         number(c.get("score")), *([c.get("predicted_restricted") or "-"] if extra else [])]
                        for c in ex["clips"]])
    return lines + ["", *machines_line([doc])]


def render_frontends(results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """voice_frontends.json: one row per front end (and its fusion with the BiGRU), balanced accuracy."""
    doc = results.get("voice_frontends")
    if not doc:
        return ["not measured yet (run: python benchmarks/voice_frontends.py)"]
    f = doc["figures"]
    cols = [("leave-corpus-out", "ravdess"), ("leave-corpus-out", "emovo"), ("leave-corpus-out", "urdu"),
            ("corpus-kfold", "ravdess"), ("corpus-kfold", "emovo"), ("corpus-kfold", "urdu")]
    by: dict[str, dict[tuple[str, str], Any]] = {}
    for r in f.get("rows", []):
        by.setdefault(r["frontend"], {})[(r["kind"], r["corpus"])] = r

    def cell(r: Any) -> str:
        return with_ci(r["balanced_accuracy"]) if r else "-"

    rtf = f.get("real_time_factor") or {}
    rows = []
    cross = results.get("accuracy_voice_cross")
    if cross:
        base = {(r["kind"], r["corpus"]): r for r in cross["figures"].get("rows", [])}
        rows.append(["BiGRU on log-mel (recipe `base`, alone)", *(cell(base.get(c)) for c in cols), "-"])
    for name, got in by.items():
        parts = name.replace("bigru|", "").split("+")
        speed = sum(rtf.get(p, 0.0) for p in parts) if all(p in rtf for p in parts) else None
        label = ("BiGRU averaged with " if name.startswith("bigru|") else "") + " + ".join(parts) + \
            (" + LR" if not name.startswith("bigru|") else " + LR head")
        rows.append([label, *(cell(got.get(c)) for c in cols), f"{speed:.4f}" if speed is not None else "-"])
    lines = table(["Front end", "RAVDESS held out (8)", "EMOVO held out (7)", "URDU held out (4)",
                   "RAVDESS 5-fold within", "EMOVO 5-fold within", "URDU 5-fold within", "Front-end RTF"], rows)
    earlier = sorted({(r["made_by"].get("command") or "", r["made_by"].get("commit") or "")
                      for r in f.get("rows", []) if isinstance(r.get("made_by"), Mapping)})
    made = "".join(f" Rows of front ends not redone there: `{cmd}` at commit {commit[:8]}." for cmd, commit in earlier)
    lines += ["", f"Balanced accuracy [95% CI, speakers resampled]; {f.get('n_clips')} clips; command: "
                  f"`{doc.get('command')}`.{made} RTF: seconds of one CPU thread per second of audio, front end only.",
              "", *machines_line([doc])]
    return lines


def render_channel(results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """voice_channel.json: one row per recording condition, balanced accuracy per held-out corpus."""
    doc = results.get("voice_channel")
    if not doc:
        return ["not measured yet (run: python benchmarks/voice_channel.py)"]
    f = doc["figures"]
    corpora = list(dict.fromkeys(r["corpus"] for r in f.get("rows", [])))
    by = {(r["condition"], r["corpus"]): r for r in f.get("rows", [])}
    rows = []
    for cond in f.get("conditions", []):
        cells = []
        for c in corpora:
            r = by.get((cond, c))
            refused = f"; {r['refused_as_silent']} refused as silent" if r and r.get("refused_as_silent") else ""
            cells.append(f"{with_ci(r['balanced_accuracy'])}; same label {r['same_label_as_clean']:.0%}{refused}"
                         if r else "-")
        rows.append([cond, *cells])
    lines = table(["Condition", *(f"{c.upper()} held out" for c in corpora)], rows)
    lines += ["", f"Balanced accuracy [95% CI, speakers resampled] over the held-out corpus's classes, and the share "
                  f"of clips labelled as their clean copy (a clip refused as silent counts as wrong); "
                  f"{f.get('n_clips')} clips; command: `{doc.get('command')}`.",
              "", *machines_line([doc])]
    return lines


def _times(x: float) -> str:
    return f"{x:.1f}x" if x >= 10 else f"{x:.2f}x"


def render_section(section: str, results: Mapping[str, Mapping[str, Any]], scripts: list[str]) -> str:
    """Markdown for one section (no markers)."""
    if section in ("face", "voice"):
        lines = render_accuracy(section, results, scripts)
    elif section == "voice_cross":
        lines = render_voice_cross(results)
    elif section == "frontends":
        lines = render_frontends(results)
    elif section == "channel":
        lines = render_channel(results)
    elif section == "speed":
        lines = render_speed(results, scripts)
    elif section == "leak":
        lines = render_leak(results)
    elif section == "peer":
        lines = render_peer(results)
    elif section == "detector":
        lines = render_detector(results)
    elif section == "photos":
        lines = render_photos(results)
    else:
        raise ValueError(f"unknown results section {section!r}; known: {', '.join(SECTIONS)}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# README update


class MarkerError(ValueError):
    """A start marker without its end marker (or the reverse)."""


def update_text(text: str, results: Mapping[str, Mapping[str, Any]], scripts: list[str]) -> str:
    """Replace every marked section in ``text``; sections without markers are left alone."""
    for section in SECTIONS:
        start, end = markers(section)
        has_start, has_end = start in text, end in text
        if has_start != has_end:
            raise MarkerError(f"README has {'only the start' if has_start else 'only the end'} marker of "
                              f"section {section!r}: add `{end if has_start else start}`")
        if not has_start:
            continue
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        replacement = f"{start}\n{render_section(section, results, scripts)}\n{end}"
        text = pattern.sub(lambda _m, r=replacement: r, text)  # a function: no backslash escapes in r
    return text


def update_readme(readme: str | Path, results_dir: str | Path, bench_dir: str | Path | None = None,
                  check: bool = False) -> bool:
    """Rewrite the marked tables of ``readme``; returns True when the file changed (or would, with ``check``).

    >>> update_readme("README.md", "benchmarks/results")  # doctest: +SKIP
    False
    """
    path = Path(readme)
    text = path.read_text(encoding="utf-8")
    results_dir = Path(results_dir)
    scripts = benchmark_scripts(bench_dir if bench_dir is not None else results_dir.parent)
    new = update_text(text, load_results(results_dir), scripts)
    if new != text and not check:
        path.write_text(new, encoding="utf-8")
    return new != text
