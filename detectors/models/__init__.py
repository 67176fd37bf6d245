"""ONNX anomaly models: families (IsolationForest, PCA reconstruction), model files, severities, `ModelBank`."""

from detectors.models.artifact import LoadedModel, ModelLoadError, model_path, write_model
from detectors.models.bank import BankConfig, ModelBank
from detectors.models.families import FAMILIES, train_family
from detectors.models.severity import SeverityLevels
from detectors.models.trainer import train_event_models

__all__ = [
    "FAMILIES",
    "BankConfig",
    "LoadedModel",
    "ModelBank",
    "ModelLoadError",
    "SeverityLevels",
    "model_path",
    "train_event_models",
    "train_family",
    "write_model",
]
