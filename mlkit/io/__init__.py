"""Image I/O: the Image type, readers and writers by content, the pipe stream, batches.

    from mlkit.io import Image, read_image, read_images, write_image
"""

from mlkit.io.image import Image, map_volumes
from mlkit.io.read import read_image, read_images
from mlkit.io.write import StreamWriter, write_image

__all__ = ["Image", "map_volumes", "read_image", "read_images", "write_image", "StreamWriter"]
