"""The frames the client applications write and check: frame i of a
stream is known from i alone, so that a reader in another process can
check what it got."""

import numpy as np


def bgr_colour(i):
    """The solid BGR colour of frame i of the OpenCV writer: far apart
    from one frame to the next, away from 0 and 255 (no clipping)."""
    return ((40 + 37 * i) % 176 + 40, (200 - 53 * i) % 176 + 40,
            (90 + 71 * i) % 176 + 40)


def rgb_bytes(i, width, height):
    """Frame i of the PyGObject writer: width * height * 3 bytes of RGB
    noise seeded with i (rows of 3 * width bytes, a multiple of 4 for the
    widths used, so GStreamer adds no padding)."""
    return np.random.RandomState(1000 + i).randint(
        0, 256, width * height * 3, dtype=np.uint8).tobytes()
