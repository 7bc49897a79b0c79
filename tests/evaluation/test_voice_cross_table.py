"""The README's cross-corpus voice table is rendered from accuracy_voice_cross.json alone."""
from __future__ import annotations

from scripts.readme_tables import render_section


def _score(v):
    return {"value": v, "low": v - 0.05, "high": v + 0.05}


def test_voice_cross_section_rows_recipes_and_examples():
    row = {"dataset": "EMOVO (Italian, acted)", "corpus": "emovo", "kind": "leave-corpus-out",
           "protocol": "leave-one-corpus-out: trained on ravdess + urdu", "n": 588,
           "accuracy": _score(0.5), "balanced_accuracy": _score(0.48), "macro_f1": _score(0.47)}
    doc = {"command": "python benchmarks/accuracy_voice_cross.py", "timestamp": "2026-12-01T12:00:00+00:00",
           "machine": {"cpu": "x", "logical_cores": 2, "ram_gb": 1, "os": "linux"}, "versions": {},
           "figures": {"rows": [row], "headline_recipe": "channel",
                       "recipes": {"base": {"config": "configs/voice/cross_base.yaml", "rows": [row]}},
                       "cremad_examples": {"model": "m", "wav_right": 6, "wav_n": 12, "max_same_label": 3,
                                           "clips": [{"file": "AudioWAV/1001_DFA_ANG_XX.wav", "true": "angry",
                                                      "predicted": "angry", "score": 0.7}]}}}
    text = render_section("voice_cross", {"accuracy_voice_cross": doc}, [])
    assert "EMOVO (Italian, acted)" in text and "48.0%" in text
    assert "Recipe `base`" in text and "6 of 12" in text and "1001_DFA_ANG_XX" in text
    assert "not measured" in render_section("voice_cross", {}, [])
