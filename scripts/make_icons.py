#!/usr/bin/env python3
"""Draws the app's icons (public/icons/*.png) with the standard library only.

The picture is what UNPIC shows: a heat map (a warm blob, as Grad-CAM draws one) on a dark,
rounded tile, over a light grid of "pixels". Run it again after changing the design; the PNGs are
committed, so builds need nothing but this file's output.

    python3 scripts/make_icons.py
"""
import math
import struct
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "public" / "icons"
BACKGROUND = (29, 35, 48)  # the page's --ink


def turbo(t):
    """A short piecewise approximation of a blue -> green -> yellow -> red colour map."""
    stops = [(0.0, (48, 18, 59)), (0.25, (40, 140, 240)), (0.5, (60, 220, 120)),
             (0.75, (250, 190, 40)), (1.0, (200, 30, 20))]
    t = min(max(t, 0.0), 1.0)
    for (t0, c0), (t1, c1) in zip(stops, stops[1:]):
        if t <= t1:
            f = (t - t0) / (t1 - t0)
            return tuple(round(a + f * (b - a)) for a, b in zip(c0, c1))
    return stops[-1][1]


def pixel(x, y, size, maskable):
    """RGBA of pixel (x, y) of a size x size icon; `maskable` fills the square (the installer
    crops it to its own shape) and keeps the picture in the central safe zone."""
    u, v = (x + 0.5) / size, (y + 0.5) / size
    if not maskable:
        # Rounded tile: transparent outside a square with corners of radius 0.18.
        r, m = 0.18, 0.02
        cx, cy = min(max(u, m + r), 1 - m - r), min(max(v, m + r), 1 - m - r)
        if math.hypot(u - cx, v - cy) > r:
            return (0, 0, 0, 0)
    # The picture lives in [lo, hi]^2: the whole tile, or the maskable safe zone (80 %).
    lo, hi = (0.18, 0.82) if maskable else (0.1, 0.9)
    pu, pv = (u - lo) / (hi - lo), (v - lo) / (hi - lo)
    if not (0 <= pu <= 1 and 0 <= pv <= 1):
        return BACKGROUND + (255,)
    # An 8x8 grid of cells, each coloured by the heat at its centre.
    cells = 8
    i, j = min(int(pu * cells), cells - 1), min(int(pv * cells), cells - 1)
    gap = abs(pu * cells - i - 0.5) > 0.42 or abs(pv * cells - j - 0.5) > 0.42
    if gap:
        return BACKGROUND + (255,)
    cu, cv = (i + 0.5) / cells, (j + 0.5) / cells
    heat = math.exp(-((cu - 0.6) ** 2 + (cv - 0.42) ** 2) / 0.05) \
        + 0.55 * math.exp(-((cu - 0.3) ** 2 + (cv - 0.72) ** 2) / 0.03)
    return turbo(min(heat, 1.0)) + (255,)


def png(size, maskable):
    rows = b"".join(
        b"\x00" + b"".join(bytes(pixel(x, y, size, maskable)) for x in range(size))
        for y in range(size))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) \
        + chunk(b"IEND", b"")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, size, maskable in [("icon-192.png", 192, False), ("icon-512.png", 512, False),
                                 ("maskable-512.png", 512, True), ("favicon-32.png", 32, False)]:
        (OUT / name).write_bytes(png(size, maskable))
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
