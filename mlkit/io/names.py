"""Output names: a name found inside a file never chooses where a file is written."""

MAX_STEM = 100


def safe_stem(text, default="image"):
    """`text`, a name found inside a file, made safe as a file stem: no folders, no `..`,
    no leading dot, only printable characters, at most MAX_STEM long; else `default`."""
    if not isinstance(text, str):
        return default
    out = "".join(c if c.isprintable() and c not in "/\\" else "_" for c in text)
    while ".." in out:
        out = out.replace("..", "_")
    out = out.strip(" .")[:MAX_STEM].strip(" .")  # no leading dot (hidden), no trailing one
    return out or default
