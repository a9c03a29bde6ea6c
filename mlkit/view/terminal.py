"""Pictures straight into the terminal: the kitty graphics protocol and iTerm2's inline images."""

import base64
import os


def inline_protocol(environ=None):
    """'kitty', 'iterm2' or None for a terminal that shows neither."""
    env = os.environ if environ is None else environ
    if env.get("KITTY_WINDOW_ID") or env.get("TERM") == "xterm-kitty":
        return "kitty"
    if env.get("TERM_PROGRAM") in ("iTerm.app", "WezTerm") or env.get("LC_TERMINAL") == "iTerm2":
        return "iterm2"
    return None


def inline_bytes(png, protocol):
    """The escape sequence that shows PNG bytes `png` inline."""
    data = base64.standard_b64encode(png)
    if protocol == "iterm2":
        return b"\x1b]1337;File=inline=1;size=%d:" % len(png) + data + b"\x07\n"
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)] or [b""]
    out = []
    for k, chunk in enumerate(chunks):
        more = 1 if k < len(chunks) - 1 else 0
        head = b"a=T,f=100,m=%d" % more if k == 0 else b"m=%d" % more
        out.append(b"\x1b_G" + head + b";" + chunk + b"\x1b\\")
    return b"".join(out) + b"\n"
