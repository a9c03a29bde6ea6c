"""Pictures of images and volumes: orthogonal planes or lightboxes, overlays, mosaics."""

from mlkit.view.render import Settings, boundaries, layout, mosaic, picture
from mlkit.view.terminal import inline_bytes, inline_protocol

__all__ = ["Settings", "boundaries", "inline_bytes", "inline_protocol", "layout", "mosaic", "picture"]
