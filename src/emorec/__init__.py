"""emorec: emotion recognition from faces and speech.

Heavy modules (onnxruntime, cv2, torch) are imported lazily so that
``import emorec`` and the CLI start fast.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["FaceEmotionRecognizer", "VoiceEmotionRecognizer", "EMOTIONS", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from emorec.face.recognizer import FaceEmotionRecognizer
    from emorec.labels import EMOTIONS
    from emorec.voice.recognizer import VoiceEmotionRecognizer


def __getattr__(name: str) -> Any:
    if name == "FaceEmotionRecognizer":
        from emorec.face.recognizer import FaceEmotionRecognizer

        return FaceEmotionRecognizer
    if name == "VoiceEmotionRecognizer":
        from emorec.voice.recognizer import VoiceEmotionRecognizer

        return VoiceEmotionRecognizer
    if name == "EMOTIONS":
        from emorec.labels import EMOTIONS

        return EMOTIONS
    raise AttributeError(f"module 'emorec' has no attribute {name!r}")
