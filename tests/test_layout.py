"""The shape of the package, as CONTRIBUTING.md describes it, checked."""

import ast
import os
import subprocess
import sys

import pytest

from conftest import NIB_DATA

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "mlkit")
TF_MODULES = ("tensorflow", "keras")


def _modules():
    for folder, _, files in os.walk(PACKAGE):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                yield os.path.relpath(path, ROOT), ast.parse(open(path).read())


def _imports(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0]


def _may_import_tensorflow(relpath):
    """deep/ and the deep commands' model modules (<package>/model.py or models.py)."""
    parts = relpath.split(os.sep)
    return parts[1] == "deep" or (len(parts) == 3 and parts[2] in ("model.py", "models.py"))


def test_only_deep_and_model_modules_import_tensorflow():
    offenders = [rel for rel, tree in _modules() if set(_imports(tree)) & set(TF_MODULES) and not _may_import_tensorflow(rel)]
    assert offenders == []


def test_package_inits_only_re_export():
    """Imports, __all__, __version__; or a lazy re-export (PEP 562): an _EXPORTS table and the
    module __getattr__ that imports from it."""
    for rel, tree in _modules():
        if not rel.endswith("__init__.py"):
            continue
        for node in tree.body:
            docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            names = [t.id for t in node.targets if isinstance(t, ast.Name)] if isinstance(node, ast.Assign) else []
            assigned = names in (["__all__"], ["__version__"], ["_EXPORTS"])
            lazy = isinstance(node, ast.FunctionDef) and node.name == "__getattr__"
            assert docstring or assigned or lazy or isinstance(node, (ast.Import, ast.ImportFrom)), f"{rel}:{node.lineno}"


NON_DEEP_RUNS = [
    ["info", os.path.join(NIB_DATA, "anatomical.nii")],
    ["transform", "rotate", "--angle", "5", os.path.join(NIB_DATA, "anatomical.nii"), "-o", "{tmp}/r/"],
    ["augment", os.path.join(NIB_DATA, "anatomical.nii"), "-n", "1", "--seed", "1", "-o", "{tmp}/a/"],
    ["homography", "estimate", "--src", "0,0 10,0 10,10 0,10", "--dst", "1,1 11,0 12,12 0,10"],
    ["regress", "{tmp}/xy.csv"],
]


@pytest.mark.parametrize("args", NON_DEEP_RUNS, ids=lambda a: " ".join(a[:2]))
def test_non_deep_commands_never_import_tensorflow(args, tmp_path):
    (tmp_path / "xy.csv").write_text("x,y\n" + "".join(f"{i},{2 * i + 1 + (i % 3) * 0.1}\n" for i in range(20)))
    argv = [a.format(tmp=tmp_path) for a in args]
    code = (
        "import sys\nfrom mlkit.cli import cli\n"
        f"try:\n    cli.main({argv!r}, prog_name='mlkit')\nexcept SystemExit as exc:\n    code = exc.code\n"
        f"print(code, sorted(m for m in {TF_MODULES!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.stdout.strip().splitlines()[-1] == "0 []", proc.stderr
