"""regress exact parsed by worker processes (mlkit.regression.parse): the serial reader's numbers
bit for bit, whatever the number of workers; the serial reader's errors for a bad file; Ctrl-C
stops the workers too. Small files are sent to the workers by the module's threshold, and cut
into many chunks by CHUNK_ROWS."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from mlkit.errors import MlkitError
from mlkit.regression import formats, parse, report
from mlkit.regression.formats import Table
from mlkit.regression.linear import fit_exact

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = 37  # rows per chunk: 1000 rows make 28 chunks, 14 or so per worker


def write_csv(path, n=1000, seed=0, newline="\n", edit=None):
    """x0..x3 at different scales and offsets, y; edit(lines) may change the text lines first
    (lines[0] is the header, lines[k] the file's line k + 1)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)) * [1, 10, 0.1, 1e3] + [0, 5, -3, 1e4]
    y = X @ [1.0, 2.0, 3.0, 4.0] + 2 + rng.normal(0, 0.5, n)
    lines = ["x0,x1,x2,x3,y"] + [",".join(f"{v:.17g}" for v in row) for row in np.column_stack([X, y])]
    if edit:
        edit(lines)
    path.write_bytes((newline.join(lines) + newline).encode("utf-8", "surrogatepass"))  # a lone surrogate stays
    return str(path)


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(formats, "CHUNK_ROWS", ROWS)


def fit(path, monkeypatch, workers=None, dropna=False, serial_allowed=True):
    """(report, rows dropped, bytes told to progress, whether the workers' answer was used):
    workers None is the serial reader."""
    monkeypatch.setattr(parse, "PARALLEL_BYTES", 0 if workers else 1 << 60)
    monkeypatch.setattr(parse, "WORKERS", workers)
    used = []
    original = parse._in_workers
    monkeypatch.setattr(parse, "_in_workers", lambda *args: used.append(original(*args)) or used[-1])
    table = Table(path, dropna=dropna)
    if not serial_allowed:
        table.chunks = None  # calling it fails the test
    told = []
    result = fit_exact(table, progress=told.append)
    return report.as_dict(result), table.dropped, sum(told), bool(used and used[-1] is not None)


@pytest.mark.parametrize("workers", [2, 3, 5])
def test_workers_give_the_serial_numbers_bit_for_bit(tmp_path, monkeypatch, workers):
    path = write_csv(tmp_path / "d.csv")
    want = fit(path, monkeypatch)
    got = fit(path, monkeypatch, workers, serial_allowed=False)
    assert got[3] and got[:3] == want[:3]  # every statistic, n, dropped rows and progress, exactly


def test_the_qr_route_reads_the_workers_spool(tmp_path, monkeypatch):
    def near_twin(lines):  # x3 = 100 x0 plus a hair: ill-conditioned, so the spooled rows go through the QR
        rng = np.random.default_rng(1)
        for k in range(1, len(lines)):
            cells = lines[k].split(",")
            cells[3] = repr(100 * float(cells[0]) + 1e-5 * rng.normal())
            lines[k] = ",".join(cells)

    path = write_csv(tmp_path / "d.csv", edit=near_twin)
    want = fit(path, monkeypatch)
    got = fit(path, monkeypatch, 3, serial_allowed=False)
    assert got[3] and got[:3] == want[:3]


def test_dropna_in_workers(tmp_path, monkeypatch):
    def gaps(lines):
        for k in (5, 300, 520, 521, 760, 990):
            cells = lines[k].split(",")
            cells[k % 5] = "" if k % 2 else "nan"
            lines[k] = ",".join(cells)

    path = write_csv(tmp_path / "d.csv", edit=gaps)
    want = fit(path, monkeypatch, dropna=True)
    got = fit(path, monkeypatch, 2, dropna=True, serial_allowed=False)
    assert want[1] == 6 and want[0]["n"] == 994
    assert got[3] and got[:3] == want[:3]


@pytest.mark.parametrize("edit,newline", [
    (lambda lines: lines.insert(100, ""), "\n"),  # a blank line in the first share: loadtxt skips it, the chunks move
    (lambda lines: lines.append(""), "\n"),  # a blank line at the end
    (None, "\r\n"),
    (lambda lines: lines.__setitem__(749, ",".join(f'"{c}"' for c in lines[749].split(","))), "\n"),  # quoted cells
], ids=["blank line", "blank last line", "crlf", "quoted cells"])
def test_irregular_lines_give_the_serial_answer(tmp_path, monkeypatch, edit, newline):
    path = write_csv(tmp_path / "d.csv", edit=edit, newline=newline)
    want = fit(path, monkeypatch)
    got = fit(path, monkeypatch, 2)
    assert got[:3] == want[:3]


def test_a_blank_line_early_makes_the_serial_reader_read_again(tmp_path, monkeypatch):
    path = write_csv(tmp_path / "d.csv", edit=lambda lines: lines.insert(100, ""))
    assert not fit(path, monkeypatch, 2)[3]


def test_no_newline_at_the_end(tmp_path, monkeypatch):
    path = tmp_path / "d.csv"
    path.write_bytes(open(write_csv(path), "rb").read().rstrip(b"\n"))
    want = fit(str(path), monkeypatch)
    got = fit(str(path), monkeypatch, 2, serial_allowed=False)
    assert got[3] and got[:3] == want[:3] and want[0]["n"] == 1000


def bad_cell(text):
    def edit(lines):  # line 750 of the file: the middle of the second of two shares
        cells = lines[749].split(",")
        cells[2] = text
        lines[749] = ",".join(cells)

    return edit


BAD = {
    "not a number": (bad_cell("1.5x"), "line 750, column 'x2': '1.5x' is not a number"),
    "missing": (bad_cell(""), "line 750, column 'x2': missing value"),
    "nan": (bad_cell("nan"), "line 750, column 'x2': nan (NaN or infinite)"),
    "infinite": (bad_cell("-inf"), "line 750, column 'x2': -inf (NaN or infinite)"),
    "few cells": (lambda lines: lines.__setitem__(749, "1,2,3"), "line 750: 3 cells, the header has 5"),
    # numpy reads only the used columns: an extra cell is caught by counting the delimiters
    "extra cell": (lambda lines: lines.__setitem__(749, lines[749] + ",7"), "line 750: 6 cells, the header has 5"),
    "lone surrogate": (lambda lines: lines.__setitem__(749, lines[749] + "\udc80"), "line 750: not UTF-8 text"),
    "nul byte": (bad_cell("1\x005"), "line 750, column 'x2': '1\\x005' is not a number"),
    "huge cell": (bad_cell("x" * 140000), "line 750: field larger than field limit"),
    "no rows": (lambda lines: lines.__delitem__(slice(1, None)), "no data rows"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
@pytest.mark.parametrize("workers", [2, 3])
def test_errors_are_the_serial_readers(tmp_path, monkeypatch, case, workers):
    edit, message = BAD[case]
    path = write_csv(tmp_path / "d.csv", edit=edit)
    with pytest.raises(MlkitError) as serial:
        fit(path, monkeypatch)
    with pytest.raises(MlkitError) as parallel:
        fit(path, monkeypatch, workers)
    assert str(parallel.value) == str(serial.value) and message in str(serial.value)


# --- whole processes ---------------------------------------------------------------------------


def mlkit_forcing_workers(args, tmp_path, **popen):
    """mlkit in a real process, with the worker path forced on any file size."""
    code = ("import sys\nfrom mlkit.regression import formats, parse\nparse.PARALLEL_BYTES = 0\nparse.WORKERS = 2\n"
            f"formats.CHUNK_ROWS = {ROWS}\nfrom mlkit.cli import main\nsys.argv = ['mlkit', *sys.argv[1:]]\nmain()")
    env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"))
    os.makedirs(env["TMPDIR"], exist_ok=True)
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **popen)


def test_cli_error_line_is_the_serial_ones(tmp_path):
    path = write_csv(tmp_path / "bad.csv", edit=bad_cell("abc"))
    proc = mlkit_forcing_workers(["regress", path], tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and out == b""
    assert err.decode().splitlines() == [f"mlkit regress: error: {path}: line 750, column 'x2': 'abc' is not a number"]


def test_cli_json_through_workers(tmp_path):
    import json

    path = write_csv(tmp_path / "d.csv")
    proc = mlkit_forcing_workers(["regress", path, "--format", "json"], tmp_path)
    out, err = proc.communicate(timeout=120)
    serial = subprocess.run([sys.executable, "-m", "mlkit", "regress", path, "--format", "json"], capture_output=True)
    assert proc.returncode == 0 and err == b""
    assert json.loads(out)[0]["n"] == 1000 and json.loads(out)[0]["coefficients"] == pytest.approx(
        json.loads(serial.stdout)[0]["coefficients"], rel=1e-12)  # CHUNK_ROWS differs between the two runs
    assert os.listdir(tmp_path / "tmp") == []


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return None


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"), reason="needs Linux /proc")
@pytest.mark.parametrize("to_group", [True, False], ids=["ctrl-c", "sigint to mlkit"])
def test_ctrl_c_stops_the_workers(tmp_path, to_group):
    """Ctrl-C in a terminal signals the whole process group; `kill -INT` only mlkit itself."""
    path = write_csv(tmp_path / "d.csv", n=50000)
    proc = mlkit_forcing_workers(["regress", path], tmp_path, start_new_session=True)
    workers = []
    while len(workers) < 2 and proc.poll() is None:
        workers = children(proc.pid) or []
    os.killpg(proc.pid, signal.SIGINT) if to_group else os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert len(workers) == 2 and proc.returncode == 130, err
    assert err.decode().splitlines() == ["mlkit regress: error: interrupted"]
    assert not any(alive(pid) for pid in workers)
    assert os.listdir(tmp_path / "tmp") == []  # the spool files have no name; nothing else is written


def test_workers_import_neither_click_nor_tensorflow():
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "mlkit.regression.parse"], input=b"null\n",
                          capture_output=True, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0
    modules = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.decode().splitlines() if "|" in line}
    assert "numpy" in modules and not modules & {"click", "tensorflow", "keras", "rich", "scipy"}


def test_jobs_bounds_the_workers_and_one_parses_here(monkeypatch):
    monkeypatch.setattr(parse, "PARALLEL_BYTES", 0)
    big = 8 * parse.MIN_SHARE
    assert parse.worker_count(big, jobs=1) == 1
    assert parse.worker_count(big, jobs=2) <= 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(6)), raising=False)
    assert parse.worker_count(big) == 6 and parse.worker_count(big, jobs=3) == 3
    assert parse.worker_count(parse.MIN_SHARE, jobs=3) == 1  # a share per worker at least


def test_regress_jobs_1_gives_the_same_json_as_the_workers(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from mlkit.cli import cli

    path = write_csv(tmp_path / "d.csv")
    monkeypatch.setattr(parse, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(parse, "MIN_SHARE", 1)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    used = []
    original = parse._in_workers
    monkeypatch.setattr(parse, "_in_workers", lambda *args: used.append(args[2]) or original(*args))
    outputs = [CliRunner().invoke(cli, ["regress", path, "--format", "json", *jobs]) for jobs in ([], ["--jobs", "1"])]
    assert all(r.exit_code == 0 for r in outputs), [r.output for r in outputs]
    assert outputs[0].stdout == outputs[1].stdout and len(used) == 1 and used[0] >= 2
