"""Speech emotion recognition: audio I/O, features, VAD, ONNX inference (no torch).

``emorec.voice.recognizer.VoiceEmotionRecognizer`` is the entry point. Training
code lives in :mod:`emorec.training.voice` and is never imported from here.
"""
