"""Face side: detection, preprocessing, recognition (ONNX) and face CLI."""
