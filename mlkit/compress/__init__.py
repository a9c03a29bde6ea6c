"""Autoencoder compression of image sets: train, the .mlz container, encode, decode, eval."""

from mlkit.compress.codec import Codec, decode, encode, load
from mlkit.compress.evaluate import evaluate
from mlkit.compress.train import Settings, train

__all__ = ["Codec", "Settings", "decode", "encode", "evaluate", "load", "train"]
