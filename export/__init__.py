"""Exporting a trained generator: SavedModel for TF Serving, TFLite, ONNX; parity, blessing, push."""
