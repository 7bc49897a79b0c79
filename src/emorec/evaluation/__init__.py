"""Metrics, the ONNX evaluation path, bootstrap intervals, calibration and reports, for both modalities (no torch)."""
