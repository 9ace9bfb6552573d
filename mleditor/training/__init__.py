"""Training, evaluation and export. Needs the `train` extra (torch, onnx, scikit-learn)."""
