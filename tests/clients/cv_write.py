"""An OpenCV application that writes frames into a zbsink:

    cv_write.py NAME FRAMES WIDTH HEIGHT

cv2.VideoWriter with a GStreamer pipeline string (docs/clients.md,
"OpenCV"): BGR frames from OpenCV, I420 in the buffer NAME. Frame i is
a solid frames.bgr_colour(i)."""

import sys

import cv2
import numpy as np

import frames

name, count, width, height = sys.argv[1], *map(int, sys.argv[2:5])
out = cv2.VideoWriter(
    "appsrc ! videoconvert ! video/x-raw,format=I420 ! "
    "zbsink buffer-name=%s" % name,
    cv2.CAP_GSTREAMER, 0, 30.0, (width, height), True)
if not out.isOpened():
    sys.exit("cv2.VideoWriter did not open")
for i in range(count):
    out.write(np.full((height, width, 3), frames.bgr_colour(i), np.uint8))
out.release()               # EOS through the pipeline
print("wrote %d frames" % count)
