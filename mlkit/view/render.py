"""Pictures of images: orthogonal planes or a lightbox in display orientation, intensity
windows, label overlays, captions and mosaics. numpy and OpenCV only; no paths, no click."""

import dataclasses
import math

import numpy as np

from mlkit.errors import MlkitError, UsageError
from mlkit.io import limits
from mlkit.transform.geometry import PLANE_NAMES, display_plane, to_ras

# Distinct colours (RGB) for labels 1, 2, 3, ... (cycled): the Tableau 10 palette.
PALETTE = np.array([(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)], np.uint8)
CAPTION_H = 18
# Bytes per display pixel while a tile is drawn: RGB, the resized labels (float32, then
# int64), their colours and the float64 blend of --overlay fill.
TILE_BYTES = 3 + 4 + 8 + 3 + 24
MOSAIC_COPIES = 3  # the mosaic, its BGR copy for OpenCV and the PNG bytes (at most as large)


@dataclasses.dataclass
class Settings:
    at: tuple = None  # (x, y, z) in voxels or millimetres, where the three planes cross
    at_mm: bool = False
    slices: int = None  # a lightbox of N slices across `axis` instead of three planes
    axis: int = 2
    volume: int = None  # which volume of a 4D series; None: the first (an option only series take)
    window: tuple = None  # (lo, hi); None: the 1st and 99th percentiles
    percentiles: tuple = (1.0, 99.0)
    radiological: bool = False
    overlay: str = "contour"  # or "fill"
    alpha: float = 0.4
    tile: int = 160  # small volumes are enlarged so the longest side of a tile is at least this
    labels: bool = True  # orientation letters and slice numbers on volume planes (FSL slicer's, mrview's)


def picture(img, seg=None, settings=None, caption=None):
    """One RGB uint8 panel for `img` (and its label overlay `seg`), captioned."""
    settings = settings or Settings()
    for each in (img, seg):
        if each is not None and np.iscomplexobj(each.data):
            raise MlkitError("complex voxels cannot be shown", "show a real image, such as its magnitude")
    if img.spatial_ndim == 2:
        tiles = [_photo_tile(img, seg, settings)]
    else:
        tiles = _volume_tiles(img, seg, settings)
    panel = _row(tiles)
    note = "radiological" if settings.radiological and settings.labels and img.spatial_ndim > 2 else ""
    return _captioned(panel, caption or "", note) if caption or note else panel


# More distinct labels than this and an overlay is taken for an intensity image. The largest
# parcellations in common use have 1000 regions (Schaefer 2018; HCP-MMP has 360, FreeSurfer's
# aparc.a2009s+aseg about 190), while a 16-bit scan holds thousands of values (the sample T1
# 9,842, nibabel's example4d 1,031). An 8-bit image has at most 255 values besides 0, so it is
# drawn as labels: nothing in its values tells it from a segmentation.
MAX_LABELS = 1000


def check_overlay(seg):
    """Refuse an overlay that is no label image: non-integer (or NaN) values, colour, or more
    than MAX_LABELS distinct labels. The caller adds the file's name."""
    data = np.asarray(seg.data)
    if seg.channels:
        raise MlkitError("a colour image is not a label image", "give a segmentation with integer labels")
    if data.dtype.kind in "fc":
        finite = np.isfinite(data)
        if not finite.all():
            raise MlkitError("the overlay holds NaN or infinite values, which are not labels",
                             "give a segmentation with integer labels")
        fractional = data[data != np.round(data)]
        if fractional.size:
            raise MlkitError(f"the overlay holds non-integer values ({float(fractional.flat[0]):g}...): an intensity image, "
                             "not labels", "give a segmentation with integer labels, e.g. from 'mlkit transform threshold'")
    elif data.dtype.kind not in "iub":
        raise MlkitError(f"the overlay holds {data.dtype} values, not integer labels", "give a segmentation")
    if data.dtype.itemsize > 1 and data.dtype != bool:
        count = int(np.count_nonzero(np.unique(data)))
        if count > MAX_LABELS:
            raise MlkitError(f"the overlay holds {count} distinct values, more than the {MAX_LABELS} labels of the "
                             "largest atlases: an intensity image, not labels",
                             "give a segmentation, e.g. from 'mlkit transform threshold'")


def check_options(images, segs, settings, given=()):
    """A usage error (exit 2) for an option that applies to none of the inputs: those that
    place or cut planes (--at, --slices, --axis, --radiological, --tile) need a volume,
    --volume a 4D series, --style an overlay. `given` names the options the user set (as
    Settings fields) whose default cannot tell."""
    volumes = [img for img in images if img.spatial_ndim == 3]
    series = [img for img in volumes if not img.channels and img.data.ndim > 3]
    if settings.at_mm and settings.at is None:
        raise UsageError("--mm says --at is in millimetres", "give --at X,Y,Z too, or drop --mm")
    if "axis" in given and settings.slices is None:
        raise UsageError("--axis picks what --slices cut across", "give --slices N too, or drop --axis")
    if "style" in given and not any(seg is not None for seg in segs):
        raise UsageError("--style draws overlays", "give --overlay SEG or --pairs, or drop --style")
    rules = [
        ("--volume", settings.volume is not None, series, "a 4D series"),
        ("--at", settings.at is not None, volumes, "a volume"),
        ("--slices", settings.slices is not None, volumes, "a volume"),
        ("--radiological", settings.radiological, volumes, "a volume"),
        ("--tile", "tile" in given, volumes, "a volume"),
    ]
    for option, used, takers, what in rules:
        if used and not takers:
            kinds = sorted({_kind(img) for img in images})
            raise UsageError(f"{option} applies to {what}, not to {' or '.join(kinds)}",
                             f"drop {option}" + (", or give a 4D image" if option == "--volume" else ""))


def _kind(img):
    if img.spatial_ndim == 2:
        return "a 2D image"
    return "a 4D series" if not img.channels and img.data.ndim > 3 else "a 3D volume"


def mosaic(panels, columns=None):
    """Panels in a grid (as square as it gets), on black."""
    columns = min(columns or math.ceil(math.sqrt(len(panels))), len(panels))  # no empty columns
    rows = [panels[i : i + columns] for i in range(0, len(panels), columns)]
    width = max(p.shape[1] for p in panels)
    height = max(p.shape[0] for p in panels)
    limits.check(height * len(rows) * width * columns * 3 * MOSAIC_COPIES, "the picture")
    out = np.zeros((height * len(rows), width * columns, 3), np.uint8)
    for r, row in enumerate(rows):
        for c, panel in enumerate(row):
            out[r * height : r * height + panel.shape[0], c * width : c * width + panel.shape[1]] = panel
    return out


def _volume_tiles(img, seg, settings):
    ras, ras_seg = _volume(img, settings), _seg_volume(img, seg, settings)
    window = settings.window or _percentiles(ras.data, settings.percentiles)
    tiles = []
    for normal, index, gray in _planes(img, ras, settings):
        labels = display_plane(ras_seg, normal, index, settings.radiological) if ras_seg is not None else None
        tile = _tile(gray, labels, window, settings)
        if settings.labels:
            tile = annotate(tile, edge_letters(gray.affine), slice_label(img, normal, index))
        tiles.append(tile)
    return tiles


def _planes(img, ras, settings):
    """(RAS axis across the plane, index along it, the plane as displayed) of each tile."""
    planes = _lightbox_planes(img, ras, settings) if settings.slices else _crossing_planes(img, ras, settings)
    for normal, index in planes:
        yield normal, index, display_plane(ras, normal, index, settings.radiological)


def layout(img, settings=None):
    """What each plane of a volume is labelled with: ({"top", "bottom", "left", "right":
    orientation letter}, slice label), in tile order."""
    settings = settings or Settings()
    return [(edge_letters(plane.affine), slice_label(img, normal, index))
            for normal, index, plane in _planes(img, _volume(img, settings), settings)]


def edge_letters(affine):
    """The anatomical direction each edge of a displayed plane faces (rows run down, columns
    right): the nearest world axis, as `mlkit info` names axes (L/R, P/A, I/S)."""
    from mlkit.io.orientation import LABELS, axcodes

    opposite = {pos: neg for neg, pos in LABELS} | {neg: pos for neg, pos in LABELS}
    down, right = axcodes(affine)[:2]
    return {"top": opposite[down], "bottom": down, "left": opposite[right], "right": right}


def slice_label(img, normal, index):
    """'z=12': the plane's index along the file's own voxel axis (x, y, z as --at counts them)."""
    import nibabel.orientations as nio

    ornt = nio.io_orientation(img.affine)
    axis = int(np.flatnonzero(ornt[:, 0] == normal)[0])
    stored = index if ornt[axis, 1] > 0 else img.data.shape[axis] - 1 - index
    return f"{'xyz'[axis]}={stored}"


FONT, WHITE, BLACK = 0, (255, 255, 255), (0, 0, 0)  # cv2.FONT_HERSHEY_SIMPLEX


def annotate(tile, letters, label):
    """The orientation letters at the middle of each edge and the slice label in the lower
    left corner, white with a black outline so they read on any grey."""
    h, w = tile.shape[:2]
    scale = 0.45 if min(h, w) >= 96 else 0.35
    out = tile.copy()
    for edge, letter in letters.items():
        (tw, th), _ = _text_size(letter, scale)
        x = {"left": 3, "right": w - tw - 3}.get(edge, (w - tw) // 2)
        y = {"top": th + 3, "bottom": h - 4}.get(edge, (h + th) // 2)
        _outlined(out, letter, (x, y), scale)
    (lw, _), _ = _text_size(label, scale)
    (bw, _), _ = _text_size(letters["bottom"], scale)
    if 3 + lw + 4 <= (w - bw) // 2:  # room beside the bottom letter
        _outlined(out, label, (3, h - 4), scale)
    return out


def _text_size(text, scale):
    import cv2

    return cv2.getTextSize(text, FONT, scale, 1)


def _outlined(image, text, origin, scale):
    import cv2

    cv2.putText(image, text, origin, FONT, scale, BLACK, 3, cv2.LINE_AA)
    cv2.putText(image, text, origin, FONT, scale, WHITE, 1, cv2.LINE_AA)


def _volume(img, settings):
    if img.channels:
        raise MlkitError("a colour volume cannot be shown", "show one channel, or a 2D colour image")
    data = img.data
    if data.ndim > 3:
        count = int(np.prod(data.shape[3:]))
        volume = settings.volume or 0
        if not 0 <= volume < count:
            raise UsageError(f"--volume {volume} is outside 0..{count - 1}")
        data = data.reshape(data.shape[:3] + (count,))[..., volume]
    return to_ras(img.replace(data=data))


def _seg_volume(img, seg, settings):
    if seg is None:
        return None
    if seg.data.shape[:3] != img.data.shape[:3] or not np.allclose(seg.affine, img.affine, atol=1e-3):
        raise MlkitError(f"the overlay {seg.name} is not on the image's voxel grid (shape or affine differ)",
                         "give the segmentation made for this image")
    return _volume(seg, settings)


def _crossing_planes(img, ras, settings):
    """Sagittal, coronal and axial through the centre, or through `at`: millimetres, or voxel
    indices of the file as stored."""
    shape = ras.data.shape[:3]
    if settings.at is None:
        point = [n // 2 for n in shape]
    else:
        world = [*settings.at, 1] if settings.at_mm else img.affine @ [*settings.at, 1]
        point = np.rint(np.linalg.inv(ras.affine) @ world)[:3].astype(int).tolist()
    for axis, (p, n) in enumerate(zip(point, shape)):
        if not 0 <= p < n:
            raise UsageError(f"--at is outside the volume along {PLANE_NAMES[axis]} planes (0..{n - 1})")
    return [(axis, int(point[axis])) for axis in (0, 1, 2)]


def _lightbox_planes(img, ras, settings):
    """N evenly spaced slices across the RAS axis that array axis `settings.axis` runs along."""
    import nibabel.orientations as nio

    if not 0 <= settings.axis < 3:
        raise UsageError(f"--axis {settings.axis} is not 0, 1 or 2")
    normal = int(nio.io_orientation(img.affine)[settings.axis][0])
    size = ras.data.shape[normal]
    count = min(settings.slices, size)
    return [(normal, int(round(i))) for i in np.linspace(0, size - 1, count + 2)[1:-1]]


def _percentiles(values, percentiles):
    finite = values[np.isfinite(values)] if np.issubdtype(values.dtype, np.floating) else values
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, percentiles)
    return float(lo), float(hi) if hi > lo else float(lo) + 1.0


def _tile(gray, labels, window, settings):
    """A plane as RGB pixels of one size: square pixels whatever the voxel sizes."""
    size = _display_size(gray, settings.tile)
    rgb = np.repeat(_windowed(gray.data, window)[..., None], 3, axis=2)
    rgb = _resize(rgb, size, nearest=False)
    if labels is not None:
        rgb = _overlay(rgb, _resize(labels.data, size, nearest=True), settings)
    return rgb


def _display_size(plane, tile):
    """(rows, cols) in display pixels: each voxel as tall and wide as it is in millimetres."""
    rows_mm, cols_mm = (float(v) for v in plane.voxel_sizes[:2])
    if not all(math.isfinite(v) and v > 0 for v in (rows_mm, cols_mm, rows_mm / cols_mm, cols_mm / rows_mm)):
        raise MlkitError(f"voxel sizes {rows_mm:g} x {cols_mm:g} mm cannot be drawn",
                         "fix the header's pixdim or sform (mlkit transform can reset the affine)")
    unit = min(rows_mm, cols_mm)
    rows, cols = plane.data.shape[0] * rows_mm / unit, plane.data.shape[1] * cols_mm / unit
    scale = max(1.0, tile / max(rows, cols))
    rows, cols = max(1.0, rows * scale), max(1.0, cols * scale)
    limits.check(rows * cols * TILE_BYTES, "the picture at the voxels' aspect ratio")
    return round(rows), round(cols)


def _windowed(values, window):
    lo, hi = window
    scaled = (np.nan_to_num(values.astype(np.float64), nan=lo) - lo) / (hi - lo)
    return np.clip(np.rint(scaled * 255), 0, 255).astype(np.uint8)


def _resize(pixels, size, nearest):
    import cv2

    if pixels.shape[:2] == size:
        return pixels
    flag = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    if nearest and pixels.dtype not in (np.uint8, np.uint16, np.int16, np.float32):
        pixels = pixels.astype(np.int32).astype(np.float32)  # OpenCV resizes these types only
    return cv2.resize(pixels, (size[1], size[0]), interpolation=flag)


def _overlay(rgb, labels, settings):
    labels = np.rint(np.nan_to_num(labels.astype(np.float64))).astype(np.int64)
    colours = PALETTE[(np.maximum(labels, 1) - 1) % len(PALETTE)]
    if settings.overlay == "fill":
        mask = labels != 0
        out = rgb.astype(np.float64)
        out[mask] = (1 - settings.alpha) * out[mask] + settings.alpha * colours[mask]
        return np.rint(out).astype(np.uint8)
    edge = boundaries(labels)
    out = rgb.copy()
    out[edge] = colours[edge]
    return out


def boundaries(labels):
    """Pixels of a label (not 0) with a 4-neighbour of another label: the contour lines."""
    edge = np.zeros(labels.shape, bool)
    edge[:-1] |= labels[:-1] != labels[1:]
    edge[1:] |= labels[1:] != labels[:-1]
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    return edge & (labels != 0)


def _photo_tile(img, seg, settings):
    data = img.data
    if img.channels and data.shape[-1] >= 3:
        rgb = data[..., :3]
        window = settings.window or ((0, 255) if rgb.dtype == np.uint8 else _percentiles(rgb, settings.percentiles))
        rgb = _windowed(rgb, window) if rgb.dtype != np.uint8 or settings.window else rgb
    else:
        gray = data[..., 0] if img.channels else data
        window = settings.window or ((0, 255) if gray.dtype == np.uint8 else _percentiles(gray, settings.percentiles))
        rgb = np.repeat(_windowed(gray, window)[..., None], 3, axis=2)
    if seg is not None:
        if seg.data.shape[:2] != data.shape[:2]:
            raise MlkitError(f"the overlay {seg.name} is {seg.data.shape[:2]}, the image {data.shape[:2]}",
                             "give the segmentation made for this image")
        rgb = _overlay(np.ascontiguousarray(rgb), seg.data, settings)
    return np.ascontiguousarray(rgb)


def _row(tiles, gap=2):
    height = max(t.shape[0] for t in tiles)
    width = sum(t.shape[1] for t in tiles) + gap * (len(tiles) - 1)
    out = np.zeros((height, width, 3), np.uint8)
    x = 0
    for tile in tiles:
        top = (height - tile.shape[0]) // 2
        out[top : top + tile.shape[0], x : x + tile.shape[1]] = tile
        x += tile.shape[1] + gap
    return out


def _captioned(panel, text, note=""):
    """A caption bar above the panel: `text` on the left, cut with '...' when it does not fit;
    `note` on the right."""
    import cv2

    bar = np.zeros((CAPTION_H, panel.shape[1], 3), np.uint8)
    note_w = _caption_width(note) + 6 if note else 0
    fitted = fit_caption(text, panel.shape[1] - 6 - note_w)
    if note and _caption_width(note) <= panel.shape[1] - 6:
        cv2.putText(bar, note, (panel.shape[1] - 3 - _caption_width(note), CAPTION_H - 5), CAPTION_FONT, CAPTION_SCALE,
                    (255, 210, 120), 1, cv2.LINE_AA)
    cv2.putText(bar, fitted, (3, CAPTION_H - 5), CAPTION_FONT, CAPTION_SCALE, WHITE, 1, cv2.LINE_AA)
    return np.vstack([bar, panel])


CAPTION_FONT, CAPTION_SCALE = 1, 0.9  # cv2.FONT_HERSHEY_PLAIN


def fit_caption(text, room):
    """`text`, or its longest beginning followed by '...' that fits in `room` pixels."""
    if _caption_width(text) <= room:
        return text
    for end in range(len(text) - 1, 0, -1):
        if _caption_width(text[:end] + "...") <= room:
            return text[:end] + "..."
    return ""


def _caption_width(text):
    import cv2

    return cv2.getTextSize(text, CAPTION_FONT, CAPTION_SCALE, 1)[0][0]
