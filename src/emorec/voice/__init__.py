"""Speech emotion recognition: audio I/O, features, VAD, ONNX inference (no torch).

``emorec.voice.recognizer.VoiceEmotionRecognizer`` is the entry point; training
code (``models``, ``emorec.training.voice_train``) is imported only when training.
"""
