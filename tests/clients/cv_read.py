"""An OpenCV application that reads frames from a zbsink in another
process:

    cv_read.py SOURCE

SOURCE is what cv2.VideoCapture gets with cv2.CAP_GSTREAMER: a pipeline
string ending in appsink, or a zerobuffer:// URI (OpenCV then builds
uridecodebin ! videoconvert ! appsink itself). Opening returns once the
first frame is there. Prints one line per frame: its index, shape, mean BGR colour and the largest
distance of any pixel from that mean; exits 0 at the end of the stream."""

import sys

import cv2
import numpy as np

cap = cv2.VideoCapture(sys.argv[1], cv2.CAP_GSTREAMER)
if not cap.isOpened():
    sys.exit("cv2.VideoCapture did not open %s" % sys.argv[1])
n = 0
while True:
    ok, frame = cap.read()
    if not ok:
        break
    mean = frame.reshape(-1, 3).mean(axis=0)
    spread = np.abs(frame.astype(np.int16) - mean.round()).max()
    print("frame %d %s %d %d %d %d" % (n, "x".join(map(str, frame.shape)),
                                       *mean.round(), spread), flush=True)
    n += 1
cap.release()
print("end %d" % n)
