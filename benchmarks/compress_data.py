"""Write the rate-distortion data sets as files: held-out splits of scikit-learn's digits
(8x8 upscaled to 16x16), scikit-image's lfw_subset faces (25x25 cropped to 24x24), and
nibabel's example4d MRI (volume 1 to train, volume 2 held out; and a stricter split, slices
0-15 of volume 1 to train, slices 16-23 of volume 2 held out), and out-of-domain pictures
(skimage.data photos cut into 16x16 and 24x24 patches).

    python benchmarks/compress_data.py DATA_DIR [--faces FOLDER]

scikit-image's 100 faces are all the faces there are offline, far too few to train on. With
`--faces FOLDER` (a folder of face photos, one face each, for example aligned crops from
`mlkit crop-align`), those faces are the face set instead: grey, the central square resized
to 24x24, a seeded 80/20 split.
"""

import os
import shutil
import sys

import cv2
import numpy as np


def _write(folder, images, prefix):
    shutil.rmtree(folder, ignore_errors=True)  # a set of another size leaves no stale files
    os.makedirs(folder)
    for i, img in enumerate(images):
        cv2.imwrite(os.path.join(folder, f"{prefix}{i:04d}.png"), img)


def digits(root):
    from sklearn.datasets import load_digits

    x = load_digits().images  # 0..16
    big = [cv2.resize((v / 16 * 255).astype(np.float32), (16, 16), interpolation=cv2.INTER_LINEAR) for v in x]
    big = [np.clip(np.rint(b), 0, 255).astype(np.uint8) for b in big]
    order = np.random.default_rng(0).permutation(len(big))
    cut = int(0.8 * len(big))
    _write(f"{root}/digits/train", [big[i] for i in order[:cut]], "d")
    _write(f"{root}/digits/test", [big[i] for i in order[cut:]], "d")


def faces(root, folder=None):
    crops = _folder_faces(folder) if folder else _lfw_subset_faces()
    order = np.random.default_rng(0).permutation(len(crops))
    cut = int(0.8 * len(crops))
    train = [crops[i] for i in order[:cut]]
    _write(f"{root}/faces/train", train + [t[:, ::-1] for t in train], "f")  # and mirrored
    _write(f"{root}/faces/test", [crops[i] for i in order[cut:]], "f")


def _lfw_subset_faces():
    from skimage.data import lfw_subset

    x = lfw_subset()[:100]  # the first 100 are faces, the rest non-faces; floats in [0, 1]
    return [np.clip(np.rint(f[:24, :24] * 255), 0, 255).astype(np.uint8) for f in x]


def _folder_faces(folder):
    """Every readable picture under `folder` (sorted), grey, its central square at 24x24."""
    found = []
    for base, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            img = cv2.imread(os.path.join(base, name), cv2.IMREAD_GRAYSCALE)
            if img is not None:
                h, w = img.shape
                side = min(h, w)
                top, left = (h - side) // 2, (w - side) // 2
                found.append(cv2.resize(img[top : top + side, left : left + side], (24, 24), interpolation=cv2.INTER_AREA))
    if len(found) < 10:
        sys.exit(f"compress_data.py: {folder}: {len(found)} readable pictures, need at least 10")
    return found


def mri(root):
    """nibabel's example4d (128 x 96 x 24 x 2): the first volume to train on, the second held out."""
    import nibabel as nib

    source = nib.load(os.path.join(os.path.dirname(nib.__file__), "tests", "data", "example4d.nii.gz"))
    data = np.asanyarray(source.dataobj)
    for t, part in ((0, "train"), (1, "test")):
        os.makedirs(f"{root}/mri/{part}", exist_ok=True)
        nib.save(nib.Nifti1Image(data[..., t], source.affine), f"{root}/mri/{part}/example4d_t{t}.nii.gz")


def mri_split(root):
    """A stricter MRI split of example4d: volume 1's slices 0-15 to train, volume 2's slices 16-23
    (anatomy the model has not seen) held out."""
    import nibabel as nib

    source = nib.load(os.path.join(os.path.dirname(nib.__file__), "tests", "data", "example4d.nii.gz"))
    data = np.asanyarray(source.dataobj)
    top = source.affine.copy()
    top[:3, 3] += top[:3, 2] * 16  # slice 16's position: the held-out part keeps its place
    for part, volume, affine in (("train", data[:, :, :16, 0], source.affine), ("test", data[:, :, 16:, 1], top)):
        os.makedirs(f"{root}/mri-split/{part}", exist_ok=True)
        nib.save(nib.Nifti1Image(volume, affine), f"{root}/mri-split/{part}/example4d_{part}.nii.gz")


def patches(root, size, name):
    from skimage import data

    photo = data.camera()
    h, w = photo.shape
    tiles = [photo[r : r + size, c : c + size] for r in range(0, h - size + 1, size * 4) for c in range(0, w - size + 1, size * 4)]
    _write(f"{root}/{name}", tiles[:100], "p")


if __name__ == "__main__":
    args = sys.argv[1:]
    face_folder = args[args.index("--faces") + 1] if "--faces" in args else None
    rest = [a for i, a in enumerate(args) if a != "--faces" and (i == 0 or args[i - 1] != "--faces")]
    root = rest[0] if rest else "compress-data"
    digits(root)
    faces(root, face_folder)
    mri(root)
    mri_split(root)
    patches(root, 16, "camera16")
    patches(root, 24, "camera24")
    print(root)
