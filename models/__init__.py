"""Object detection models: the onnxruntime wrapper the edge runs, their manifests, training and export.

The edge imports only this package's inference side (numpy, OpenCV, onnxruntime); training and export
(``models.training``, ``models.export``) need the ``train`` extra (torch, ultralytics).
"""

from models.detections import Detections
from models.manifest import Manifest, ManifestError
from models.onnx_detector import OnnxDetector, default_model_path

__all__ = ["Detections", "Manifest", "ManifestError", "OnnxDetector", "default_model_path"]
