"""What the TensorFlow commands share: a quiet import, devices, data, model files and the
training loop. TensorFlow is imported here (and in the deep commands' model modules) only,
and only when such a command runs."""

from mlkit.deep.runtime import Runtime, import_tf

__all__ = ["Runtime", "import_tf"]
