"""Pictures straight into the terminal: the kitty graphics protocol, iTerm2's inline images and
DEC sixel graphics (xterm -ti vt340, foot, mlterm, WezTerm, Windows Terminal, ...)."""

import base64
import os

import numpy as np

PROTOCOLS = ("kitty", "iterm2", "sixel")


def inline_protocol(environ=None, ask_terminal=None):
    """'kitty', 'iterm2', 'sixel' or None for a terminal that shows none of them.
    MLKIT_INLINE=kitty|iterm2|sixel|none overrides what the environment suggests; sixel support is
    otherwise asked of the terminal itself (`ask_terminal`, the device-attributes query)."""
    env = os.environ if environ is None else environ
    chosen = env.get("MLKIT_INLINE", "").lower()
    if chosen:
        return chosen if chosen in PROTOCOLS else None
    if env.get("KITTY_WINDOW_ID") or env.get("TERM") == "xterm-kitty":
        return "kitty"
    if env.get("TERM_PROGRAM") in ("iTerm.app", "WezTerm") or env.get("LC_TERMINAL") == "iTerm2":
        return "iterm2"
    if (ask_terminal or terminal_has_sixel)():
        return "sixel"
    return None


def inline_bytes(png, protocol):
    """The escape sequence that shows PNG bytes `png` inline."""
    if protocol == "sixel":
        return sixel(_decoded(png)) + b"\n"
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


def terminal_has_sixel(timeout=0.2):
    """Whether the controlling terminal lists sixel graphics (attribute 4) in its reply to the
    primary device-attributes query, ESC [ c. No reply within `timeout` seconds means no."""
    import select
    import termios
    import tty

    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    try:
        saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)  # the reply must not echo, nor wait for a newline
        try:
            os.write(fd, b"\x1b[c")
            reply = b""
            while not reply.endswith(b"c") and select.select([fd], [], [], timeout)[0]:
                reply += os.read(fd, 64)
        finally:
            termios.tcsetattr(fd, termios.TCSANOW, saved)
    except (OSError, termios.error):
        return False
    finally:
        os.close(fd)
    return b"4" in reply.rstrip(b"c").lstrip(b"\x1b[?").split(b";")


def palette():
    """The 256 sixel colours, RGB uint8: a 6 x 6 x 6 cube, then 40 greys for MRI's gray levels."""
    steps = np.arange(6) * 51
    cube = np.stack(np.meshgrid(steps, steps, steps, indexing="ij"), -1).reshape(-1, 3)
    greys = np.repeat(np.round(np.arange(40) * 255 / 39)[:, None], 3, 1)
    return np.concatenate([cube, greys]).astype(np.uint8)


def quantize(rgb):
    """Index into `palette()` of each pixel: the nearer of its cube colour and its grey."""
    rgb = rgb.astype(np.int32)
    levels = (rgb + 25) // 51
    cube = levels[..., 0] * 36 + levels[..., 1] * 6 + levels[..., 2]
    grey = 216 + (rgb.mean(-1) * 39 / 255 + 0.5).astype(np.int32)
    colours = palette().astype(np.int32)
    cube_error = ((colours[cube] - rgb) ** 2).sum(-1)
    grey_error = ((colours[grey] - rgb) ** 2).sum(-1)
    return np.where(grey_error < cube_error, grey, cube)


def sixel(rgb):
    """DEC sixel bytes for an H x W x 3 uint8 picture: one pass per colour in each band of six rows."""
    index = quantize(rgb)
    height, width = index.shape
    percent = (palette().astype(np.int32) * 100 + 127) // 255
    out = [b'\x1bPq"1;1;%d;%d' % (width, height)]
    out += [b"#%d;2;%d;%d;%d" % (k, *colour) for k, colour in enumerate(percent)]
    for top in range(0, height, 6):
        band = index[top : top + 6]
        bits = (1 << np.arange(len(band)))[:, None]
        passes = [b"#%d" % c + _runs(((band == c) * bits).sum(0) + 63) for c in np.unique(band)]
        out.append(b"$".join(passes) + b"-")
    return b"".join(out) + b"\x1b\\"


def _runs(codes):
    """Sixel characters with runs of four or more written as !<count><char>."""
    starts = np.concatenate([[0], np.flatnonzero(np.diff(codes)) + 1])
    lengths = np.diff(np.concatenate([starts, [len(codes)]]))
    return b"".join(b"!%d%c" % (n, codes[s]) if n > 3 else bytes([codes[s]]) * n for s, n in zip(starts, lengths))


def _decoded(png):
    import cv2

    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
