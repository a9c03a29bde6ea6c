"""Makes the samples bundled in mlkit/data/ from scikit-image's and nibabel's own data.

    PYTHONPATH=. python tests/make_samples.py       # rewrites mlkit/data/*; tests/test_view.py checks them

Sources: nibabel's test data (MIT licence) for the volumes, scikit-image's astronaut (NASA,
public domain) and text (public domain) photos, and scikit-image's lfw_subset (100 faces from
Labeled Faces in the Wild and 100 non-face patches). Everything here is deterministic.
"""

import gzip
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "mlkit", "data")
# Where the document's four corners land in document.jpg (x, y): what the README straightens.
DOCUMENT_CORNERS = [(58, 72), (412, 40), (436, 300), (40, 262)]
DOCUMENT_SIZE = (480, 360)


def t1_seg(t1):
    """Three labels by intensity inside the head (Otsu's mask): 1 dark, 2 middle, 3 bright tissue.
    A demonstration segmentation, not an anatomical atlas."""
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    data = ndimage.gaussian_filter(t1.astype(np.float64), 1.0)  # regions, not speckle
    head = data > threshold_otsu(data)
    low, high = np.percentile(data[head], [33.3, 66.7])
    seg = np.zeros(data.shape, np.uint8)
    seg[head] = 1 + (data[head] > low) + (data[head] > high)
    return seg


def document():
    """scikit-image's text photo as a tilted page on a desk, by a known homography."""
    import cv2
    import skimage.data

    page = skimage.data.text()
    h, w = page.shape
    src = np.float32([(0, 0), (w - 1, 0), (w - 1, h - 1), (0, h - 1)])
    warp = cv2.getPerspectiveTransform(src, np.float32(DOCUMENT_CORNERS))
    desk = np.full((DOCUMENT_SIZE[1], DOCUMENT_SIZE[0]), 70, np.uint8)
    return cv2.warpPerspective(page, warp, DOCUMENT_SIZE, dst=desk, borderMode=cv2.BORDER_TRANSPARENT)


def lfw():
    """scikit-image's 200 lfw_subset patches (faces first) as one 8-bit mosaic, 10 per row."""
    import skimage.data

    patches = np.round(skimage.data.lfw_subset() * 255).astype(np.uint8)
    n, tile, _ = patches.shape
    return patches.reshape(n // 10, 10, tile, tile).transpose(0, 2, 1, 3).reshape(n // 10 * tile, 10 * tile)


def main():
    import cv2
    import nibabel as nib
    import skimage.data

    nib_data = os.path.join(os.path.dirname(nib.__file__), "tests", "data")
    t1 = nib.load(os.path.join(DATA, "t1.nii.gz"))
    seg = nib.Nifti1Image(t1_seg(np.asanyarray(t1.dataobj)), t1.affine, t1.header)
    seg.set_data_dtype(np.uint8)
    seg.header["scl_slope"], seg.header["scl_inter"] = 1, 0
    _save_gz(seg, "t1_seg.nii.gz")
    fmri = nib.load(os.path.join(nib_data, "functional.nii"))
    _save_gz(nib.Nifti1Image(np.asanyarray(fmri.dataobj), fmri.affine, fmri.header), "fmri.nii.gz")
    face = cv2.resize(skimage.data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    cv2.imwrite(os.path.join(DATA, "face.jpg"), face[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    cv2.imwrite(os.path.join(DATA, "document.jpg"), document(), [cv2.IMWRITE_JPEG_QUALITY, 90])
    cv2.imwrite(os.path.join(DATA, "lfw.png"), lfw(), [cv2.IMWRITE_PNG_COMPRESSION, 9])


def _save_gz(img, name):
    """gzip without a time stamp, so the same data always gives the same bytes."""
    with open(os.path.join(DATA, name), "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        out.write(img.to_bytes())


if __name__ == "__main__":
    main()
