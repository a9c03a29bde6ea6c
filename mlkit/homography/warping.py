"""Warping with a homography: the output canvas, and cv2.warpPerspective over planes and channels.

Every output pixel takes the source value at H^-1 (x, y) (inverse mapping, so no holes);
OpenCV inverts H itself. Own code only where OpenCV cannot do the job: more than 4 channels
(and the slices of a volume) go through in groups of at most 4, and dtypes its warp does not
take are warped in one that holds them exactly and cast back.
"""

import numpy as np

from mlkit.dtypes import to_dtype
from mlkit.errors import MlkitError
from mlkit.homography.estimation import project

ORDERS = {"nearest": 0, "linear": 1, "cubic": 3}  # the names of --interp, as spline orders
FLAGS = {0: 0, 1: 1, 3: 2}  # order -> cv2.INTER_NEAREST, INTER_LINEAR, INTER_CUBIC
NATIVE = {np.dtype(t) for t in ("uint8", "uint16", "int16", "float32", "float64")}  # interpolated by OpenCV
NATIVE_NEAREST = NATIVE | {np.dtype("int8"), np.dtype("int32")}  # only copied: no arithmetic on them


def canvas(H, image_shape, size=None, fit=False, dst_points=None):
    """(H moved onto the canvas, (width, height)).

    size: (w, h) with the canvas at the origin; fit: big enough for the whole
    warped image; otherwise the bounding box of the destination points.
    """
    if size is not None:
        return H, tuple(int(v) for v in size)
    if fit:
        h, w = image_shape[:2]
        corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], float)
        _check_bounded(H, corners)
        box = project(H, corners)
    elif dst_points is not None:
        box = np.asarray(dst_points, float)
    else:
        raise MlkitError("no canvas: give --size WxH or --fit (a matrix carries no destination points)")
    low = np.floor(box.min(axis=0))
    high = np.ceil(box.max(axis=0))
    width, height = (high - low + 1).astype(int)
    if width * height > 400_000_000:
        raise MlkitError(f"the canvas would be {width}x{height} pixels", "give --size, or check H")
    shift = np.array([[1, 0, -low[0]], [0, 1, -low[1]], [0, 0, 1.0]])
    return shift @ H, (int(width), int(height))


def _check_bounded(H, corners):
    """The image's corners (so, w being linear, all of it) on one side of the horizon."""
    w = corners @ H[2, :2] + H[2, 2]
    if not (np.all(w > 1e-12 * np.abs(w).max()) or np.all(w < -1e-12 * np.abs(w).max())):
        raise MlkitError(
            "H sends part of the image to infinity (across the horizon line): no finite canvas holds it", "give --size WxH, or check H"
        )


def warp(image, H, size, order=1, border="constant"):
    """`image` (H x W, or H x W x C) warped onto a `size` = (width, height) canvas.

    order: 0 nearest (label-safe: values are copied, never blended; outside is 0), 1 linear,
    3 cubic, or their names. The same result as cv2.warpPerspective(image, H, size, flags=...)
    for the dtypes and channel counts OpenCV takes.
    """
    import cv2

    order = ORDERS.get(order, order)
    if order not in FLAGS:
        raise MlkitError(f"interpolation order {order} is not one of 0, 1, 3", "use nearest, linear or cubic")
    work = _warpable(image, order)
    warp_group = _group_warper(cv2, H, size, order, border)
    shape = (int(size[1]), int(size[0])) + work.shape[2:]
    if work.ndim == 2 or work.shape[2] in (1, 3, 4):
        out = warp_group(work).reshape(shape)
    else:
        out = np.empty(shape, work.dtype)
        for channels in _channel_groups(work.shape[2]):
            out[..., channels] = warp_group(np.ascontiguousarray(work[..., channels])).reshape(out[..., channels].shape)
    return out if out.dtype == image.dtype else to_dtype(out, image.dtype)


def _group_warper(cv2, H, size, order, border):
    mode = cv2.BORDER_CONSTANT if border == "constant" else cv2.BORDER_REPLICATE
    flags = FLAGS[order]
    return lambda group: cv2.warpPerspective(group, H, (int(size[0]), int(size[1])), flags=flags, borderMode=mode, borderValue=0)


def _warpable(image, order):
    """The image in a dtype OpenCV warps: its own when it can, else one that holds it exactly."""
    if image.dtype in (NATIVE_NEAREST if order == 0 else NATIVE):
        return image
    if image.dtype == bool:
        return image.astype(np.uint8)
    if image.dtype == np.int8:
        return image.astype(np.int16)
    return image.astype(np.float32 if image.dtype == np.float16 else np.float64)  # (u)int32/64: exact to 2^53


def _channel_groups(count):
    """Slices of at most 4 channels, none of 2: OpenCV's 2-channel path rounds the source
    coordinates more coarsely than its 1-, 3- and 4-channel ones (up to 3.6 grey levels apart)."""
    groups = [slice(c, c + 4) for c in range(0, count - count % 4, 4)]
    rest = count % 4
    if rest == 3:
        return groups + [slice(count - 3, count)]
    return groups + [slice(c, c + 1) for c in range(count - rest, count)]


def warp_image(img, H, size, order=1, border="constant"):
    """An Image warped plane by plane (3D volumes: every slice along the last axes, same H)."""
    data = img.data
    if img.channels or data.ndim == 2:
        return img.replace(data=warp(data, H, size, order, border))
    planes = data.reshape(data.shape[:2] + (-1,))  # the slices as channels: warped in groups of 4
    out = warp(planes, H, size, order, border)
    return img.replace(data=out.reshape(out.shape[:2] + data.shape[2:]))
