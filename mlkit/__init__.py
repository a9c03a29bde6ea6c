"""mlkit: a Unix-style toolkit for 2D images and 3D/4D NIfTI volumes."""

__version__ = "0.1.0"
