"""Detectors: templates, features, rules, Sigma, ONNX models and the scorer. Never imports Textual."""
