"""Inputs as the user gives them (files, folders, globs, '-') made into a list of paths, and
how messages name them. Apart from the batch runner, so that `info` loads neither process
pools nor writers."""

import glob
import os
import re
import sys

from mlkit.errors import MlkitError, UsageError
from mlkit.io.read import SUFFIXES, suffix

FOLDER_SUFFIXES = SUFFIXES + (".mgz", ".mgh")


def expand_inputs(specs):
    """Files, folders (their image files), globs and '-', in a stable order."""
    paths = []
    for spec in specs:
        if spec == "-" or os.path.isfile(spec):
            paths.append(spec)
        elif os.path.isdir(spec):
            paths.extend(_images_in(spec))
        elif glob.has_magic(spec):
            matches = sorted(p for p in glob.glob(spec) if os.path.isfile(p))
            if not matches:
                raise MlkitError(f"no files match {spec!r}")
            paths.extend(matches)
        else:
            paths.append(spec)  # reported as a failed input, the others still run
    if paths.count("-") > 1:
        raise UsageError("stdin ('-') can be read only once")
    if "-" in paths and _is_terminal(sys.stdin):
        raise UsageError("'-' reads images from stdin, which is a terminal", "pipe images in: mlkit sample | mlkit info -")
    return paths


def _is_terminal(stream):
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False


def _images_in(folder):
    names = sorted(os.listdir(folder))
    found = [
        os.path.join(folder, n)
        for n in names
        if not n.startswith(".") and suffix(n) in FOLDER_SUFFIXES and os.path.isfile(os.path.join(folder, n))
    ]
    if not found:
        raise MlkitError(f"no image files in folder {folder}")
    return found


def input_label(path, subindex=0, name=None):
    """How messages name an input: its path, or 'stdin image N' for the N-th image of a stream,
    with the name the image carries when it is known ('stdin image 2 (t1_seg)')."""
    if path != "-":
        return path
    named = name and not re.fullmatch(r"stdin(_\d+)?", name)  # not just the reader's default
    return f"stdin image {subindex + 1}" + (f" ({name})" if named else "")
