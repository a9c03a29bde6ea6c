"""Start-up: a command imports what it needs and nothing more (module sets, never timings)."""

import subprocess
import sys

from conftest import NIB_DATA

# What `info` has no use for on NIfTI files with regular headers: nibabel (its import is most
# of info's start-up; it would bring scipy and urllib.request), the batch runner, the writers.
NOT_FOR_INFO = ("nibabel", "scipy", "urllib.request", "rich", "tensorflow", "keras", "cv2", "tempfile",
                "concurrent.futures", "multiprocessing", "mlkit.io.nifti", "mlkit.io.write", "mlkit.io.gz",
                "mlkit.io.batch", "mlkit.regression", "mlkit.transform", "mlkit.augment", "mlkit.homography",
                "mlkit.faces", "mlkit.crop", "mlkit.deep", "mlkit.compress", "mlkit.gan", "mlkit.stylize")


def modules_after(argv, cwd=None):
    """The modules loaded once `mlkit ARGV` has run, in a fresh interpreter."""
    code = (
        "import sys\nfrom mlkit.cli import cli\n"
        f"try:\n    cli.main({argv!r}, prog_name='mlkit')\nexcept SystemExit as exc:\n    code = exc.code\n"
        "print(code, ' '.join(sorted(sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=300)
    code, names = proc.stdout.strip().splitlines()[-1].split(" ", 1)
    assert code == "0", proc.stderr
    return set(names.split())


def loaded(modules, prefixes):
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_info_on_a_nifti_imports_only_what_it_needs():
    """.nii, .nii.gz (gzip is read as always) and NIfTI-2: the light reader, no nibabel."""
    names = ("anatomical.nii", "example4d.nii.gz", "example_nifti2.nii.gz", "functional.nii", "standard.nii.gz")
    modules = modules_after(["info", "--format", "json", *(f"{NIB_DATA}/{name}" for name in names)])
    assert loaded(modules, NOT_FOR_INFO) == []
    assert {"click", "numpy", "gzip", "mlkit.io.nifti_light", "mlkit.io.describe"} <= modules


def test_info_on_an_irregular_header_uses_nibabel(tmp_path):
    """The CIFTI-2 file's qfac is 0, which nibabel sets to 1: the full reader takes it."""
    modules = modules_after(["info", f"{NIB_DATA}/row_major.dconn.nii"])
    assert {"nibabel", "mlkit.io.nifti"} <= modules


def test_regress_exact_needs_no_scipy_linalg_nor_rich(tmp_path):
    (tmp_path / "xy.csv").write_text("x,y\n" + "".join(f"{i},{2 * i + 1 + (i % 3) * 0.1}\n" for i in range(20)))
    modules = modules_after(["regress", "xy.csv"], cwd=tmp_path)
    assert loaded(modules, ("rich", "tensorflow", "scipy.linalg", "cv2")) == []
    assert "scipy.special" in modules  # Student's t for the p values and intervals
