"""Face side of inference: detectors, crops, image/video I/O, the recogniser and the batching pipeline (no torch).

Training code lives in :mod:`emorec.training.face`; the commands in :mod:`emorec.cli.face`.
"""
