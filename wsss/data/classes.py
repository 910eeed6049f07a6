"""PASCAL VOC class names, indices and the standard colour palette."""

import numpy as np

#: The 20 object classes of PASCAL VOC, in label order 1..20.
VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)
#: Background (0) followed by the object classes: index == mask value.
CLASS_NAMES = ("background",) + VOC_CLASSES
NUM_CLASSES = len(VOC_CLASSES)  # 20 foreground classes
IGNORE_INDEX = 255


def voc_palette() -> np.ndarray:
    """The 256x3 VOC colour map (bit-interleaved label index), as used by the official masks."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for label in range(256):
        r = g = b = 0
        c = label
        for bit in range(8):
            r |= ((c >> 0) & 1) << (7 - bit)
            g |= ((c >> 1) & 1) << (7 - bit)
            b |= ((c >> 2) & 1) << (7 - bit)
            c >>= 3
        palette[label] = (r, g, b)
    return palette
