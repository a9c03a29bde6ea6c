"""Output names: a name found inside a file never chooses where a file is written."""

MAX_STEM = 100
MAX_STEM_BYTES = 200  # file names hold 255 bytes; room left for suffixes (_s003, .nii.gz, a temp tail)


def safe_stem(text, default="image"):
    """`text`, a name found inside a file, made safe as a file stem: no folders, no `..`,
    no leading dot, only printable characters, at most MAX_STEM long; else `default`."""
    if not isinstance(text, str):
        return default
    out = "".join(c if c.isprintable() and c not in "/\\" else "_" for c in text)
    while ".." in out:
        out = out.replace("..", "_")
    out = _cut_bytes(out.strip(" .")[:MAX_STEM], MAX_STEM_BYTES).strip(" .")  # no leading dot (hidden), no trailing one
    return out or default


def _cut_bytes(text, limit):
    """`text` cut to at most `limit` bytes of UTF-8, on a character boundary (90 CJK
    characters pass a 100-character cut but take 270 bytes)."""
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= limit:
        return text
    return raw[:limit].decode("utf-8", "ignore")
