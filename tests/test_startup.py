"""Start-up: a command imports what it needs and nothing more (module sets, never timings)."""

import subprocess
import sys

from conftest import NIB_DATA

# mlkit packages `info` has no use for; nibabel imports the top of scipy itself, so only
# scipy's subpackages say whether mlkit pulled scipy in.
NOT_FOR_INFO = ("rich", "tensorflow", "keras", "cv2", "scipy.linalg", "scipy.ndimage", "scipy.special", "scipy.stats",
                "mlkit.regression", "mlkit.transform", "mlkit.augment", "mlkit.homography", "mlkit.faces", "mlkit.crop",
                "mlkit.deep", "mlkit.compress", "mlkit.gan", "mlkit.stylize")


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
    modules = modules_after(["info", f"{NIB_DATA}/anatomical.nii"])
    assert loaded(modules, NOT_FOR_INFO) == []
    assert {"click", "numpy", "nibabel", "mlkit.io.describe"} <= modules


def test_regress_exact_needs_no_scipy_linalg_nor_rich(tmp_path):
    (tmp_path / "xy.csv").write_text("x,y\n" + "".join(f"{i},{2 * i + 1 + (i % 3) * 0.1}\n" for i in range(20)))
    modules = modules_after(["regress", "xy.csv"], cwd=tmp_path)
    assert loaded(modules, ("rich", "tensorflow", "scipy.linalg", "cv2")) == []
    assert "scipy.special" in modules  # Student's t for the p values and intervals
