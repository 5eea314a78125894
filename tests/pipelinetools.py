"""What the pipeline tests share: the training pipeline's steps as its run graph names them, and artifacts.

Test modules import these from here, not from a ``conftest.py``: with a ``conftest.py`` in a chapter's
folder too, ``from conftest import …`` would find whichever was imported first.
"""

from pathlib import Path

# The chapter 3 training pipeline's steps, as the run graph names them.
TRAINING_STEPS = [
    "fetch-data",
    "validate-data",
    "preprocess-data",
    "train-model",
    "convert-to-onnx",
    "validate-onnx-model",
    "evaluate-model",
    "check-accuracy-gate",
    "push-to-model-registry",
]


def make_artifact(kind, folder: Path, name: str, metadata: dict | None = None):
    """An input or output artifact backed by a file in ``folder``, as kfp would hand it over."""
    artifact = kind(uri=str(folder / name))
    artifact.metadata.update(metadata or {})
    return artifact
