"""Sample data that ships inside the package."""

import os

SAMPLES = {"t1": "t1.nii.gz"}


def path(name="t1"):
    return os.path.join(os.path.dirname(__file__), "data", SAMPLES[name])
