"""The exact fit's one parse of a CSV: in this process, or for a big file in worker processes
(numpy's loadtxt holds the GIL, so threads would not help).

The workers parse the very chunks the serial reader makes (CHUNK_ROWS rows each, counted from
the header), each worker a run of whole chunks: so every chunk gives the same numbers, and
they are merged here in file order, whatever the number of workers or their timing. A worker
reads with the Table's own reader and checks, writes its rows to a spool segment opened here,
and sends each chunk's moments back. Anything irregular (a bad cell, a blank line that moves
the chunks, a worker that fails) and the file is read again here from the start, so errors and
their line numbers are the serial reader's own.

The workers are fresh interpreters (python -m mlkit.regression.parse) that import numpy and
this package, never click or TensorFlow. Ctrl-C reaches them with the terminal's process group
and kills them (SIGINT's default action); on any other way out this process kills them, and a
worker whose parent is gone dies on its next write to the pipe. Spool segments are anonymous
files, so nothing is left on disk whatever happens.
"""

import json
import os
import selectors
import signal
import subprocess
import sys
import threading

import numpy as np

from mlkit import ui
from mlkit.regression import formats
from mlkit.regression.linear import moments_of

PARALLEL_BYTES = 32 << 20  # files up to this size are parsed here: starting workers costs ~0.2 s
MIN_SHARE = 16 << 20  # bytes per worker at least
MAX_WORKERS = 8
WORKERS = None  # a fixed number of workers (tests); None: one per available core
WINDOW = 4 << 20  # bytes of the file read at a time while finding the chunk starts
NEWLINE = ord("\n")

CHUNK, END = 1.0, 2.0  # record kinds; a worker that ends without END failed
HEAD = 4  # a record: kind, rows kept, bytes read, rows dropped; then means and scatter matrix


def chunk_moments(table, spool, on_bytes=None):
    """(rows, means, scatter matrix) of each chunk of the table's [X y] rows, in file order; the
    rows themselves go to `spool`. on_bytes(n) is told the bytes parsed (progress)."""
    count = worker_count(os.path.getsize(table.path), getattr(table, "jobs", None))
    if count > 1:
        told = _Told(on_bytes)
        chunks = _in_workers(table, spool, count, told)
        if chunks is not None:
            return chunks
        spool.clear()
        told.take_back()
    return _serial(table, spool, on_bytes)


def _serial(table, spool, on_bytes):
    for X, y in table.chunks(on_bytes=on_bytes):
        yield moments_of(spool.write(np.column_stack([X, y])))


def worker_count(size, jobs=None):
    """1 (parse here) for small files or jobs 1, else one worker per core (at most `jobs`),
    each with MIN_SHARE bytes at least."""
    if size <= PARALLEL_BYTES or jobs == 1 or not sys.executable:  # no interpreter to start (embedded Python)
        return 1
    if WORKERS:
        return WORKERS
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(jobs or cores, MAX_WORKERS, size // MIN_SHARE))


class _Told:
    """Progress reported so far, taken back when the file is read again serially."""

    def __init__(self, on_bytes):
        self.on_bytes, self.total = on_bytes, 0

    def __call__(self, n):
        self.total += n
        if self.on_bytes:
            self.on_bytes(n)

    def take_back(self):
        if self.on_bytes and self.total:
            self.on_bytes(-self.total)


# --- this process ---------------------------------------------------------------------------------


def _in_workers(table, spool, count, told):
    """The chunks' moments from `count` workers, or None when the file must be read serially."""
    rows, width = formats.CHUNK_ROWS, len(table.columns)
    assert spool.empty(), "worker i's rows go to segment i"
    procs = []
    try:
        _start_all(count, spool, procs)  # they import numpy while the shares are found
        shares = _shares(table.path, rows, count)
        for index, proc in enumerate(procs):
            plan = None if index >= len(shares) else _plan(table, rows, shares[index], procs[index].segment)
            proc.stdin.write(json.dumps(plan).encode() + b"\n")
            proc.stdin.close()
        records = _collect(procs[: len(shares)], width, told)
        if records is None or any(proc.wait() != 0 for proc in procs):
            return None
        return _chunks(shares, records, spool, table, width)
    except OSError:  # no worker could start, or one went away early
        return None
    finally:
        _stop(procs)


STOPS = (signal.SIGINT, signal.SIGTERM)


def _start_all(count, spool, procs):
    """Start the workers with Ctrl-C and SIGTERM held back meanwhile: a signal in the middle of
    Popen would leave a worker running that is not in `procs`, which is how workers get stopped.
    (A handler, not a signal mask: the mask is per thread, and rich or OpenBLAS may have threads
    that would take the signal instead.)"""
    if threading.current_thread() is not threading.main_thread():  # handlers can be set only there
        procs.extend(_start(spool.segment()) for _ in range(count))
        return
    caught = []
    held = {signum: signal.signal(signum, lambda signum, frame: caught.append(signum)) for signum in STOPS}
    try:
        for _ in range(count):
            procs.append(_start(spool.segment()))
    finally:
        for signum, handler in held.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)  # None: not set from Python
        if caught:
            signal.raise_signal(caught[0])  # now, as if it came now


def _start(segment):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    if ui.state["debug"]:
        env["MLKIT_DEBUG"] = "1"
    safe_path = ["-P"] if sys.version_info >= (3, 11) else []  # not the current folder's modules
    proc = subprocess.Popen([sys.executable, *safe_path, "-m", "mlkit.regression.parse"], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(segment.fileno(),),
                            stderr=None if ui.state["debug"] else subprocess.DEVNULL)  # a worker's failure is no message
    proc.segment = segment.fileno()
    return proc


def _stop(procs):
    """Kill the workers still running (Ctrl-C, an error, a failed worker) and reap them all."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
    for proc in procs:
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass


def _plan(table, rows, share, segment):
    start, first_chunk, chunks = share
    return {"path": table.path, "x_cols": table.x_cols, "y_col": table.y_col, "dropna": table.dropna, "rows": rows,
            "start": start, "chunks": chunks, "line_no": 1 + first_chunk * rows, "spool": segment}


def _shares(path, rows, count):
    """(offset, first chunk, number of chunks) per worker: runs of whole chunks of about equal
    bytes; the last runs to the end of the file (None chunks). Only the newlines before the
    last cut are counted, and the chunk starts found next to each cut."""
    with open(path, "rb", buffering=0) as f:
        f.readline()
        first, size = f.tell(), os.fstat(f.fileno()).st_size
        starts, lines, offset = [(first, 0)], 0, first  # lines: newlines in [first, offset)
        for cut in (first + (size - first) * i // count for i in range(1, count)):
            lines += _count_newlines(f, offset, cut)
            offset = cut
            chunk = lines // rows + 1  # the first chunk whose start is past the cut: after newline chunk * rows - 1
            end = _find_newline(f, cut, chunk * rows - 1 - lines)
            if end is None or end + 1 >= size:
                break
            if chunk > starts[-1][1]:
                starts.append((end + 1, chunk))
    return [(a, c, d - c) for (a, c), (_, d) in zip(starts, starts[1:])] + [(*starts[-1], None)]


def _count_newlines(f, start, end):
    """The newlines in bytes [start, end) of the file f."""
    buffer, count = bytearray(WINDOW), 0
    f.seek(start)
    while start < end:
        got = f.readinto(memoryview(buffer)[: min(WINDOW, end - start)])
        if not got:
            break
        count += int(np.count_nonzero(np.frombuffer(buffer, np.uint8, got) == NEWLINE))
        start += got
    return count


def _find_newline(f, start, n):
    """The offset of the n-th newline (0: the first) from `start` on; None past the end."""
    buffer = bytearray(WINDOW)
    f.seek(start)
    while got := f.readinto(buffer):
        ends = np.flatnonzero(np.frombuffer(buffer, np.uint8, got) == NEWLINE)
        if n < len(ends):
            return start + int(ends[n])
        n -= len(ends)
        start += got
    return None


def _collect(procs, width, told):
    """Each worker's records once all have ended; None as soon as one ends without its END."""
    size = (HEAD + width + width * width) * 8
    pending = {proc.stdout: bytearray() for proc in procs}
    records = {proc.stdout: [] for proc in procs}
    with selectors.DefaultSelector() as selector:
        for stream in pending:
            selector.register(stream, selectors.EVENT_READ)
        while selector.get_map():
            for key, _ in selector.select():
                data = os.read(key.fd, 1 << 16)
                buffer, got = pending[key.fileobj], records[key.fileobj]
                buffer += data
                whole = len(buffer) - len(buffer) % size
                for record in np.frombuffer(bytes(buffer[:whole]), float).reshape(-1, size // 8):
                    told(int(record[2]))
                    got.append(record)
                del buffer[:whole]
                if not data:
                    selector.unregister(key.fileobj)
                    if not got or got[-1][0] != END:
                        return None
    return [records[proc.stdout] for proc in procs]


def _chunks(shares, records, spool, table, width):
    """The chunks' moments in file order, after checking that each worker ended where the next
    began (a blank line, which loadtxt skips, would move every chunk after it: read serially)."""
    chunks, dropped = [], 0
    for index, (share, got) in enumerate(zip(shares, records)):
        end = share[0] + sum(int(record[2]) for record in got)
        if index + 1 < len(shares) and end != shares[index + 1][0]:
            return None
        for record in got[:-1]:
            rows = int(record[1])
            spool.written(index, rows, width)
            chunks.append((rows, record[HEAD : HEAD + width].copy(), record[HEAD + width :].reshape(width, width).copy()))
        dropped += int(got[-1][3])
    table.dropped = dropped
    return chunks


# --- a worker -------------------------------------------------------------------------------------


def main():
    """Read the plan (one JSON line) from stdin; parse its chunks, keep their rows in the spool
    segment, send a record per chunk and END on stdout. Any failure: exit without END."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: die at once, quietly
    try:
        plan = json.loads(sys.stdin.readline())
        if plan:
            _work(plan, sys.stdout.buffer)
    except BrokenPipeError:
        os._exit(1)  # the parent is gone
    except Exception:  # an irregular file (MlkitError) or anything else: the parent reads serially
        ui.traceback_if_debug()
        sys.exit(1)


def _work(plan, out):
    table = formats.Table(plan["path"], plan["x_cols"], plan["y_col"], plan["dropna"])
    width = len(table.columns)
    read = []
    with open(plan["spool"], "wb") as spool:
        for Z in table.row_blocks(plan["rows"], read.append, plan["start"], plan["chunks"], plan["line_no"]):
            spool.write(Z.data)  # the very values the serial reader's column_stack gives, without the copy
            out.write(_record(CHUNK, len(Z), sum(read), 0, width, *moments_of(Z)[1:]))
            out.flush()  # progress as it happens
            read.clear()
    out.write(_record(END, 0, sum(read), table.dropped, width))
    out.flush()


def _record(kind, rows, nbytes, dropped, width, mean=None, scatter=None):
    record = np.zeros(HEAD + width + width * width)
    record[:HEAD] = kind, rows, nbytes, dropped
    if mean is not None:
        record[HEAD : HEAD + width] = mean
        record[HEAD + width :] = scatter.ravel()
    return record.tobytes()


if __name__ == "__main__":
    main()
