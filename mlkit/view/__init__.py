"""Pictures of images and volumes: orthogonal planes or lightboxes, overlays, mosaics."""

from mlkit.view.render import MAX_LABELS, Settings, boundaries, check_options, check_overlay, layout, mosaic, picture
from mlkit.view.terminal import inline_bytes, inline_protocol

__all__ = ["MAX_LABELS", "Settings", "boundaries", "check_options", "check_overlay", "inline_bytes", "inline_protocol",
           "layout", "mosaic", "picture"]
