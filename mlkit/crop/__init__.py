"""Crops that make training sets: faces aligned on a landmark template (MTCNN), and square
in-plane crops around a segmentation, the foreground or the centre, affine kept exact.

    from mlkit.crop import FaceOptions, RegionOptions, align_faces, crop_region
    crops = align_faces(photo, FaceOptions(size=96))                # one per face kept
    img, seg = crop_region(volume, seg, RegionOptions(mode="seg", margin=4))

Face mode fits a similarity (or affine) transform, least squares over the chosen landmarks,
from the detected points onto the template and interpolates once. Region modes copy voxels
exactly, or resample when --size asks for another side; every output voxel keeps its world
position. The detector (mlkit.crop.model) is the only part that imports TensorFlow.
"""

from mlkit.crop.align import LANDMARK_SETS, TEMPLATES, TRANSFORMS, fit, template_points
from mlkit.crop.face import FaceOptions
from mlkit.crop.regions import MODES, RegionOptions
from mlkit.crop.steps import align_faces, crop_region, detect, detect_inputs, face_step, region_step

__all__ = [
    "FaceOptions", "LANDMARK_SETS", "MODES", "RegionOptions", "TEMPLATES", "TRANSFORMS", "align_faces",
    "crop_region", "detect", "detect_inputs", "face_step", "fit", "region_step", "template_points",
]
