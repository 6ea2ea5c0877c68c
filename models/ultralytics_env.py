"""Importing Ultralytics for training and export: only with the ``train`` extra, and never online.

Ultralytics would otherwise reach the network on its own: a DNS probe to decide whether it is online, usage
analytics, a font download when it checks a data set, and model weights for its mixed-precision self-check. The
edge boxes and CI have no internet, and a training run must not depend on it.
"""

from __future__ import annotations

import logging
import os
import sys
from types import ModuleType

from edgewatch.errors import UserError

INSTALL_HINT = "pip install 'edgewatch[train]'"


def require_ultralytics(command: str) -> ModuleType:
    """The ``ultralytics`` module, set up offline; a one-line UserError when torch or ultralytics is missing."""
    os.environ.setdefault("YOLO_OFFLINE", "1")  # is_online() -> False: no DNS probe, no hub, no analytics
    os.environ.setdefault("YOLO_VERBOSE", "True")
    try:
        import torch  # noqa: F401
        import ultralytics
    except ImportError as exc:
        raise UserError(f"{command} needs torch and ultralytics ({exc.name} is not installed): "
                        f"{INSTALL_HINT}") from None
    from ultralytics.utils import LOGGER, SETTINGS

    # Our commands print their results (file paths) on stdout; Ultralytics' log belongs with ours on stderr.
    for handler in LOGGER.handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)

    # In memory only (dict.update skips the settings file's save): the user's own settings stay as they are.
    dict.update(SETTINGS, {"sync": False, "clearml": False, "comet": False, "dvc": False, "mlflow": False,
                           "raytune": False, "tensorboard": False, "wandb": False, "vscode_msg": False,
                           "openvino_msg": False})
    # The data-set check fetches Arial.ttf for plots when no such font is installed; we never plot (plots=False).
    import ultralytics.data.utils as data_utils

    data_utils.check_font = lambda *args, **kwargs: None
    return ultralytics
