"""Sample data that ships inside the package (mlkit/data/), so every README example runs.

Sources: nibabel's test data (MIT licence), scikit-image's photos (public domain) and its subset
of Labeled Faces in the Wild; see tests/make_samples.py for how each file was made.
"""

import os

# name -> (file, what it is), in the order `mlkit sample --list` shows them
SAMPLES = dict([
    ("t1", ("t1.nii.gz", "T1 MRI volume, 33 x 41 x 25, 2 mm (nibabel's anatomical.nii)")),
    ("t1_seg", ("t1_seg.nii.gz", "3-label segmentation of t1 by intensity (a demonstration, not an atlas)")),
    ("fmri", ("fmri.nii.gz", "4D functional series, 17 x 21 x 3 x 20, 4 x 4 x 8 mm (nibabel's functional.nii)")),
    ("face", ("face.jpg", "photo with a face, 256 x 256 (scikit-image's astronaut, NASA, public domain)")),
    ("document", ("document.jpg", "photo of a tilted page, 480 x 360 (scikit-image's text, public domain)")),
    ("faces", ("lfw.png", "100 face and 100 non-face patches, 25 x 25, one folder each (scikit-image's lfw_subset)")),
])
# A set sample is one mosaic of equal square tiles, a band of rows per label; it is written as
# one folder per label, so the folder names label the images (as `eigenfaces train` reads them).
SETS = {"faces": {"tile": 25, "columns": 10, "labels": (("face", 10), ("nonface", 10))}}


def path(name="t1"):
    return os.path.join(os.path.dirname(__file__), "data", SAMPLES[name][0])


def set_images(name):
    """(label, stem, 2D uint8 array) for every tile of set sample `name`, in order."""
    import cv2

    spec = SETS[name]
    mosaic = cv2.imread(path(name), cv2.IMREAD_GRAYSCALE)
    tile, row = spec["tile"], 0
    for label, rows in spec["labels"]:
        for k in range(rows * spec["columns"]):
            r, c = row + k // spec["columns"], k % spec["columns"]
            yield label, f"{label}_{k:03d}", mosaic[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile]
        row += rows
