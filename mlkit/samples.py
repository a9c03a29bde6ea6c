"""Sample data that ships inside the package (mlkit/data/), so every README example runs.

Sources: nibabel's test data (MIT licence) and scikit-image's photos (public domain); see
tests/make_samples.py for how each file was made.
"""

import os

# name -> (file, what it is), in the order `mlkit sample --list` shows them
SAMPLES = dict([
    ("t1", ("t1.nii.gz", "T1 MRI volume, 33 x 41 x 25, 2 mm (nibabel's anatomical.nii)")),
    ("t1_seg", ("t1_seg.nii.gz", "3-label segmentation of t1 by intensity (a demonstration, not an atlas)")),
    ("fmri", ("fmri.nii.gz", "4D functional series, 17 x 21 x 3 x 20, 4 x 4 x 8 mm (nibabel's functional.nii)")),
    ("face", ("face.jpg", "photo with a face, 256 x 256 (scikit-image's astronaut, NASA, public domain)")),
    ("document", ("document.jpg", "photo of a tilted page, 480 x 360 (scikit-image's text, public domain)")),
])


def path(name="t1"):
    return os.path.join(os.path.dirname(__file__), "data", SAMPLES[name][0])
