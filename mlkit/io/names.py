"""Output names: a name found inside a file never chooses where a file is written."""

import re

MAX_STEM = 100
_UNSAFE = re.compile(r"[^\w.+=,@-]")  # everything but letters, digits (any script) and a few marks


def safe_stem(text, default="image"):
    """`text` reduced to a plain file stem: no separators, no '..', no leading dot, no control
    characters, at most MAX_STEM characters; `default` when nothing is left."""
    stem = _UNSAFE.sub("_", str(text)) if isinstance(text, str) else ""
    stem = re.sub(r"\.{2,}", "_", stem).lstrip("._")[:MAX_STEM].rstrip(".")
    return stem or default
