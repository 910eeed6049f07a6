"""A deterministic synthetic dataset in the exact PASCAL VOC 2012 layout.

This is the pipeline's embedded default dataset. It is built to reproduce the
difficulties that weakly supervised semantic segmentation (WSSS) methods exist
to solve, so that a demo on it actually demonstrates something:

* **Body + discriminative part.** Every object is a large *body* (a random
  blob: ellipse with harmonic wobble, random aspect ratio, rotation and
  texture) plus a small *part* (a "head"/"badge" about 1/3 of the body's
  diameter, a small fraction of the object's pixels). The part alone encodes the
  class: a two-tone badge whose (outer, centre) colours are one of the 20 ordered
  pairs of 5 saturated hues, drawn in one of 4 shapes (``CLASS_PARTS``). The body
  carries only weak class evidence, as the rest of a real object does: its colour
  is class-independent, and its texture (speckle, stripes or spots) follows the
  class's texture (``CLASS_BODY_TEXTURE``, shared by a third of the classes) with
  probability ``body_cue``, else is random. A classifier gets most of what it needs
  from the part, so a plain CAM peaks on the part while the mask labels the whole
  object: the "CAM covers only the most discriminative region" problem that PSA /
  AffinityNet random walks, CRFs, Puzzle-CAM and adversarial erasing address.
  Because the body is not class-blind, a method that looks beyond the part (a tile
  without the part, an image with the part erased) still finds some evidence.
* **Recoverable extent.** The body is still visually separable from the
  background (its colour is chosen away from the local background mean, it has
  its own texture and a darker shaded rim), so affinity/CRF/random-walk
  refinement can in principle grow the part's activation to the whole body.
* **Co-occurrence.** Each class has a preferred background type
  (``CLASS_CONTEXT``: sky, grass, water, indoor, road). With probability
  ``context_prob`` an image's background is the preferred type of one of its
  classes, else a random type. Background context thus correlates with the
  labels (like water with boats in VOC), so CAMs can leak into the background.
* **VOC-like masks.** 0 background, 1..20 classes, 255 (void) in a band
  ``void_width`` px wide along every object boundary (object/background and
  object/object). Objects come at several scales, may overlap (later ones
  occlude earlier ones; the mask shows what is visible) and may be cut by the
  image border (the discriminative part is always kept inside the image and
  mostly unoccluded, so every image-level label has visible evidence).

Every image is drawn from its own ``numpy.random.default_rng`` seeded with
``SeedSequence([seed, split_code, index])``: same arguments give byte-identical
files whatever the processing order.
"""

from __future__ import annotations

import colorsys
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from ..io.png import write_label_png
from .classes import IGNORE_INDEX, VOC_CLASSES

#: Background scene types, drawn by ``_draw_<type>``.
BACKGROUND_TYPES = ("sky", "grass", "water", "indoor", "road")

#: The 5 saturated hues (HSV hue in [0, 1)) used for discriminative parts.
PART_HUES = {"red": 0.0, "yellow": 0.15, "green": 0.33, "blue": 0.61, "magenta": 0.83}
#: The 4 part shapes.
PART_SHAPES = ("disc", "bar", "ring", "cross")

#: The 20 ordered pairs of distinct part hues: (outer colour, centre colour) of a two-tone part.
_HUE_PAIRS = tuple((a, b) for a in PART_HUES for b in PART_HUES if a != b)
#: class name -> (outer hue name, centre hue name, shape name). The hue pair alone is unique per
#: class (colour is what a small CNN picks up quickly); the shape is a second, weaker cue.
CLASS_PARTS = {
    name: (*_HUE_PAIRS[i], PART_SHAPES[i % len(PART_SHAPES)])
    for i, name in enumerate(VOC_CLASSES)
}

#: class name -> body texture kind (0 speckle, 1 stripes, 2 spots), used with probability body_cue.
CLASS_BODY_TEXTURE = {name: i % 3 for i, name in enumerate(VOC_CLASSES)}

#: class name -> preferred background type (co-occurrence context).
CLASS_CONTEXT = {
    "aeroplane": "sky", "bird": "sky", "person": "sky", "train": "sky",
    "boat": "water", "bottle": "water", "dog": "water",
    "cow": "grass", "horse": "grass", "sheep": "grass", "pottedplant": "grass",
    "bicycle": "road", "bus": "road", "car": "road", "motorbike": "road",
    "cat": "indoor", "chair": "indoor", "diningtable": "indoor", "sofa": "indoor",
    "tvmonitor": "indoor",
}

SPLIT_CODES = {"train": 0, "val": 1}

_BODY_DIAMETER = (0.22, 0.60)      # fraction of the image side
_BODY_ASPECT = (1.0, 2.2)
_PART_DIAMETER = (0.32, 0.40)      # fraction of the body diameter
_PLACEMENT_TRIES = 25
_MIN_VISIBLE = 0.30                # non-void visible fraction of an object's in-image pixels
_MIN_PART_VISIBLE = 0.60           # unoccluded fraction of the part


@dataclass(frozen=True)
class SyntheticObject:
    """One drawn object. Masks are (H, W) bool, clipped to the image."""

    class_index: int            # 1..20
    body: np.ndarray            # body pixels, ignoring occlusion
    part: np.ndarray            # discriminative-part pixels, ignoring occlusion
    visible: np.ndarray         # pixels of this object in the final image (void band included)
    bbox: tuple                 # (xmin, ymin, xmax, ymax), 1-based, tight on `visible`
    object_area: int            # pixels of body | part, unclipped by the border, unoccluded
    part_area: int              # pixels of the part (always inside the image), unoccluded

    @property
    def class_name(self) -> str:
        return VOC_CLASSES[self.class_index - 1]

    @property
    def part_fraction(self) -> float:
        """Share of the whole object (unoccluded, not cut by the border) that is the part."""
        return self.part_area / self.object_area


@dataclass(frozen=True)
class SyntheticImage:
    image: np.ndarray           # (H, W, 3) uint8 RGB, before JPEG compression
    labels: np.ndarray          # (H, W) uint8: 0, 1..20, 255
    background: str             # one of BACKGROUND_TYPES
    objects: tuple              # SyntheticObject, in drawing order (visible ones only)


@dataclass
class _Geometry:
    class_index: int
    body_shape: "_BodyShape"
    part_shape: "_PartShape"
    body: np.ndarray
    part: np.ndarray
    part_core: np.ndarray       # part minus its dark outline
    part_hole: np.ndarray       # white centre of a ring (empty for other shapes)
    radius: np.ndarray          # normalised body radius (1 on the body outline), for shading


# ---------------------------------------------------------------- small helpers

@lru_cache(maxsize=8)
def _grid(size: int):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    yy.setflags(write=False)
    xx.setflags(write=False)
    return yy, xx


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32)


def _fine_noise(rng, size: int, sigma) -> np.ndarray:
    """Unit-variance Gaussian-filtered white noise (sigma in px, scalar or (y, x))."""
    noise = ndimage.gaussian_filter(rng.standard_normal((size, size), dtype=np.float32),
                                    sigma, mode="wrap")
    return noise / (noise.std() + 1e-6)


def _coarse_noise(rng, size: int, cell: float) -> np.ndarray:
    """Unit-variance smooth noise with features about `cell` px wide (bicubic upsampling)."""
    n = max(2, int(round(size / cell)) + 2)
    coarse = Image.fromarray(rng.standard_normal((n, n)).astype(np.float32), mode="F")
    noise = np.asarray(coarse.resize((size, size), Image.BICUBIC), dtype=np.float32)
    return (noise - noise.mean()) / (noise.std() + 1e-6)


def _rotate(xx, yy, cx, cy, angle):
    """Coordinates of the grid in a frame centred on (cx, cy) and rotated by `angle`."""
    c, s = np.cos(angle), np.sin(angle)
    dx, dy = xx - cx, yy - cy
    return dx * c + dy * s, -dx * s + dy * c


# ---------------------------------------------------------------- backgrounds

def _draw_sky(rng, size):
    yy, _ = _grid(size)
    hue = rng.uniform(0.55, 0.62)
    sat = rng.uniform(0.45, 0.65)
    top = _hsv(hue, sat, rng.uniform(0.70, 0.85))
    bottom = _hsv(hue, sat * 0.35, rng.uniform(0.88, 0.97))
    t = (yy / (size - 1))[..., None]
    image = top * (1 - t) + bottom * t
    clouds = np.clip(_coarse_noise(rng, size, size / 4) - 0.4, 0, None)
    alpha = np.clip(clouds * rng.uniform(0.3, 0.6), 0, 0.7)[..., None]
    return image * (1 - alpha) + 0.97 * alpha


def _draw_grass(rng, size):
    scale = size / 128
    base = _hsv(rng.uniform(0.22, 0.30), rng.uniform(0.45, 0.70), rng.uniform(0.35, 0.55))
    blades = _fine_noise(rng, size, (2.0 * scale, 0.6 * scale))
    patches = _coarse_noise(rng, size, size / 3)
    return base * (1 + 0.18 * blades + 0.10 * patches)[..., None]


def _draw_water(rng, size):
    scale = size / 128
    yy, xx = _grid(size)
    base = _hsv(rng.uniform(0.48, 0.56), rng.uniform(0.45, 0.70), rng.uniform(0.40, 0.60))
    period = rng.uniform(6, 10) * scale
    swell = 0.25 * np.sin(2 * np.pi * xx / (rng.uniform(20, 40) * scale) + rng.uniform(0, 2 * np.pi))
    waves = np.sin(2 * np.pi * (yy / period + swell))
    image = base * (1 + 0.12 * waves + 0.05 * _coarse_noise(rng, size, size / 3))[..., None]
    glint = np.clip(waves - 0.85, 0, None)[..., None] * 2.0
    return image * (1 - glint) + 0.9 * glint


def _draw_indoor(rng, size):
    yy, xx = _grid(size)
    wall = _hsv(rng.uniform(0.07, 0.12), rng.uniform(0.15, 0.35), rng.uniform(0.72, 0.88))
    floor = _hsv(rng.uniform(0.05, 0.10), rng.uniform(0.35, 0.55), rng.uniform(0.35, 0.50))
    horizon = rng.uniform(0.55, 0.80) * size
    image = np.where((yy < horizon)[..., None], wall, floor).astype(np.float32)
    planks = 1 + 0.06 * np.sign(np.sin(2 * np.pi * xx / rng.uniform(0.08, 0.15) / size))
    image = np.where((yy >= horizon)[..., None], image * planks[..., None], image)
    frame = max(1.0, size / 128)
    for _ in range(rng.integers(1, 4)):
        w, h = rng.uniform(0.10, 0.35, size=2) * size
        x0, y0 = rng.uniform(-0.05, 0.95, size=2) * size
        outer = (xx >= x0) & (xx < x0 + w) & (yy >= y0) & (yy < y0 + h)
        inner = (xx >= x0 + frame) & (xx < x0 + w - frame) & (yy >= y0 + frame) & (yy < y0 + h - frame)
        colour = _hsv(rng.uniform(0, 1), rng.uniform(0.05, 0.30), rng.uniform(0.30, 0.80))
        image[outer] = colour * 0.55
        image[inner] = colour
    return image


def _draw_road(rng, size):
    scale = size / 128
    yy, xx = _grid(size)
    gray = _hsv(rng.uniform(0, 1), rng.uniform(0.0, 0.06), rng.uniform(0.33, 0.48))
    grain = 0.08 * _fine_noise(rng, size, 0.6 * scale) + 0.05 * _coarse_noise(rng, size, size / 3)
    image = gray * (1 + grain)[..., None]
    across, along = _rotate(xx, yy, rng.uniform(0.2, 0.8) * size, rng.uniform(0.2, 0.8) * size,
                            rng.uniform(0, np.pi))
    dash = (np.abs(along) < 1.5 * scale) & (np.sin(2 * np.pi * across / (16 * scale)) > 0)
    image[dash] = 0.88
    return image


_BACKGROUND_DRAWERS = {
    "sky": _draw_sky, "grass": _draw_grass, "water": _draw_water,
    "indoor": _draw_indoor, "road": _draw_road,
}


def _draw_clutter(rng, image):
    """A few muted blobs (darker/lighter versions of the local background)."""
    size = image.shape[0]
    yy, xx = _grid(size)
    for _ in range(rng.integers(0, 4)):
        cx, cy = rng.uniform(0, size, size=2)
        ra, rb = rng.uniform(0.02, 0.05, size=2) * size
        win = _window(size, cx, cy, max(ra, rb) + 1)
        u, v = _rotate(xx[win], yy[win], cx, cy, rng.uniform(0, np.pi))
        blob = (u / ra) ** 2 + (v / rb) ** 2 <= 1
        image[win][blob] *= rng.uniform(0.6, 1.3)
    return image


# ---------------------------------------------------------------- object geometry

@dataclass(frozen=True)
class _BodyShape:
    """A blob: rotated ellipse (semi-axes a, b) whose outline wobbles with harmonics 2..4."""

    cx: float
    cy: float
    a: float
    b: float
    angle: float
    amps: tuple
    phases: tuple

    @property
    def reach(self) -> float:
        return max(self.a, self.b) * (1 + sum(self.amps)) + 1

    def outline(self, phi):
        return 1 + sum(amp * np.cos((k + 2) * phi + phase)
                       for k, (amp, phase) in enumerate(zip(self.amps, self.phases)))

    def radius(self, xx, yy):
        """Normalised radius: <= 1 inside the body, 1 on its outline."""
        u, v = _rotate(xx, yy, self.cx, self.cy, self.angle)
        pu, pv = u / self.a, v / self.b
        return np.hypot(pu, pv) / self.outline(np.arctan2(pv, pu))

    def point(self, psi, t):
        """Image coordinates of the point at polar angle psi, t times the outline radius."""
        rho = t * self.outline(psi)
        pu, pv = self.a * rho * np.cos(psi), self.b * rho * np.sin(psi)
        c, s = np.cos(self.angle), np.sin(self.angle)
        return self.cx + pu * c - pv * s, self.cy + pu * s + pv * c


@dataclass(frozen=True)
class _PartShape:
    """A discriminative part: `shape` of radius r centred at (cx, cy), rotated by `spin`."""

    shape: str
    cx: float
    cy: float
    r: float
    spin: float

    @property
    def reach(self) -> float:
        return self.r + 1

    @property
    def outline_width(self) -> float:
        return max(1.0, 0.2 * self.r)

    def sdf(self, xx, yy):
        """Box/disc distance-like field, <= 0 inside the part."""
        u, v = _rotate(xx, yy, self.cx, self.cy, self.spin)
        r = self.r
        if self.shape in ("disc", "ring"):
            return np.hypot(u, v) - r
        if self.shape == "bar":
            return np.maximum(np.abs(u) - r, np.abs(v) - 0.45 * r)
        if self.shape == "cross":
            arm_h = np.maximum(np.abs(u) - r, np.abs(v) - 0.38 * r)
            arm_v = np.maximum(np.abs(u) - 0.38 * r, np.abs(v) - r)
            return np.minimum(arm_h, arm_v)
        raise ValueError(f"unknown part shape {self.shape!r}")

    def hole(self, xx, yy):
        """The centre disc painted in the part's second colour (wider for a ring)."""
        return np.hypot(xx - self.cx, yy - self.cy) <= (0.6 if self.shape == "ring" else 0.4) * self.r


def _window(size, cx, cy, reach):
    """Slices of the image covering the square of half-width `reach` around (cx, cy)."""
    y0, y1 = max(0, int(np.floor(cy - reach))), min(size, int(np.ceil(cy + reach)) + 1)
    x0, x1 = max(0, int(np.floor(cx - reach))), min(size, int(np.ceil(cx + reach)) + 1)
    return slice(y0, max(y0, y1)), slice(x0, max(x0, x1))


def _rasterize(field, cx, cy, reach, size, fill):
    """Evaluate `field(xx, yy)` on the image pixels near (cx, cy); `fill` elsewhere."""
    yy, xx = _grid(size)
    win = _window(size, cx, cy, reach)
    values = field(xx[win], yy[win])
    out = np.full((size, size), fill, dtype=values.dtype)
    out[win] = values
    return out


def _sample_body(rng, size, center=None) -> _BodyShape:
    diameter = rng.uniform(*_BODY_DIAMETER) * size
    aspect = rng.uniform(*_BODY_ASPECT)
    angle = rng.uniform(0, np.pi)
    cx, cy = rng.uniform(0, size, size=2) if center is None else center
    return _BodyShape(float(cx), float(cy), diameter / 2 * np.sqrt(aspect),
                      diameter / 2 / np.sqrt(aspect), angle,
                      tuple(rng.uniform(0, 0.07, size=3)), tuple(rng.uniform(0, 2 * np.pi, size=3)))


def _sample_part(rng, size, body: _BodyShape, shape: str):
    """Place the part inside the body or straddling its outline (a "head");
    None if it would not lie fully inside the image."""
    frac = rng.uniform(*_PART_DIAMETER)
    r = max(frac * np.sqrt(body.a * body.b), 2.5, 0.055 * size)   # legible even on small bodies
    px, py = body.point(rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.0))
    spin = rng.uniform(0, np.pi)
    if not (r + 1 <= px <= size - 2 - r and r + 1 <= py <= size - 2 - r):
        return None
    return _PartShape(shape, float(px), float(py), r, spin)


def _make_geometry(size, class_index, body: _BodyShape, part: _PartShape) -> _Geometry:
    radius = _rasterize(body.radius, body.cx, body.cy, body.reach, size, np.inf)
    sdf = _rasterize(part.sdf, part.cx, part.cy, part.reach, size, np.inf)
    hole = _rasterize(part.hole, part.cx, part.cy, part.reach, size, False)
    return _Geometry(class_index, body, part, radius <= 1, sdf <= 0,
                     sdf <= -part.outline_width, hole, radius)


def _sample_geometry(rng, size, class_index):
    """One candidate object (body + part) at least half inside the image, or None."""
    body = _sample_body(rng, size)
    part = _sample_part(rng, size, body, CLASS_PARTS[VOC_CLASSES[class_index - 1]][2])
    if part is None:
        return None
    geom = _make_geometry(size, class_index, body, part)
    if geom.body.sum() < 0.5 * np.pi * body.a * body.b:
        return None
    return geom


def _centred_geometry(size, class_index):
    """Fallback placement for the first object: a body in the centre (fixed sub-seed)."""
    rng = np.random.default_rng(class_index)
    shape = CLASS_PARTS[VOC_CLASSES[class_index - 1]][2]
    while True:
        body = _sample_body(rng, size, center=(size / 2, size / 2))
        part = _sample_part(rng, size, body, shape)
        if part is not None:
            return _make_geometry(size, class_index, body, part)


def _full_areas(geom: _Geometry, size: int):
    """(object pixels, part pixels) of the object on an unbounded canvas (not cut by the border)."""
    body, part = geom.body_shape, geom.part_shape
    x0 = int(np.floor(min(body.cx - body.reach, part.cx - part.reach)))
    x1 = int(np.ceil(max(body.cx + body.reach, part.cx + part.reach)))
    y0 = int(np.floor(min(body.cy - body.reach, part.cy - part.reach)))
    y1 = int(np.ceil(max(body.cy + body.reach, part.cy + part.reach)))
    if x0 >= 0 and y0 >= 0 and x1 < size and y1 < size:    # not cut: the image masks are whole
        return int((geom.body | geom.part).sum()), int(geom.part.sum())
    yy, xx = np.mgrid[y0:y1 + 1, x0:x1 + 1].astype(np.float32)
    part_mask = part.sdf(xx, yy) <= 0
    return int(((body.radius(xx, yy) <= 1) | part_mask).sum()), int(part_mask.sum())


# ---------------------------------------------------------------- labels

def _instance_map(geometries, size):
    """(H, W) uint8: 0 background, k = k-th object (1-based); later objects occlude."""
    instances = np.zeros((size, size), dtype=np.uint8)
    for k, geom in enumerate(geometries, start=1):
        instances[geom.body | geom.part] = k
    return instances


def _differs_within(labels, radius):
    """Pixels with a pixel of another label within Euclidean distance `radius` (inside the image)."""
    out = np.zeros(labels.shape, dtype=bool)
    h, w = labels.shape
    r = int(np.floor(radius))
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if (dy == 0 and dx == 0) or dy * dy + dx * dx > radius * radius:
                continue
            ys, yd = slice(max(0, -dy), h - max(0, dy)), slice(max(0, dy), h - max(0, -dy))
            xs, xd = slice(max(0, -dx), w - max(0, dx)), slice(max(0, dx), w - max(0, -dx))
            out[ys, xs] |= labels[ys, xs] != labels[yd, xd]
    return out


def _void_band(instances, void_width):
    """Void band `void_width` px wide along every object boundary.

    ceil(w/2) px on the object side of each boundary (so object/object boundaries
    get both sides), floor(w/2) px on the background side. With w >= 1 no object
    pixel keeps a 4-neighbour of a different instance or of the background.
    """
    if void_width <= 0:
        return np.zeros(instances.shape, dtype=bool)
    inner, outer = (void_width + 1) // 2, void_width // 2
    on_object = _differs_within(instances, inner) & (instances > 0)
    on_background = _differs_within(instances, outer) & (instances == 0) if outer else False
    return on_object | on_background


def _class_labels(geometries, instances, void):
    classes = np.zeros(len(geometries) + 1, dtype=np.uint8)
    classes[1:] = [g.class_index for g in geometries]
    labels = classes[instances]
    labels[void] = IGNORE_INDEX
    return labels


def _layout_ok(geometries, size, void_width):
    """Every object keeps enough visible, non-void pixels and an unoccluded part."""
    instances = _instance_map(geometries, size)
    void = _void_band(instances, void_width)
    for k, geom in enumerate(geometries, start=1):
        mine = instances == k
        if (mine & ~void).sum() < _MIN_VISIBLE * (geom.body | geom.part).sum():
            return False
        if (mine & geom.part).sum() < _MIN_PART_VISIBLE * geom.part.sum():
            return False
    return True


def _sample_classes(rng, n_objects):
    classes = [int(rng.integers(1, len(VOC_CLASSES) + 1))]
    while len(classes) < n_objects:
        if rng.random() < 0.25:
            classes.append(classes[int(rng.integers(len(classes)))])
        else:
            classes.append(int(rng.integers(1, len(VOC_CLASSES) + 1)))
    return classes


def _sample_layout(rng, size, classes, void_width):
    """Place objects in order; an object that cannot be placed without hiding itself
    or an earlier one (after a few tries) is dropped. The first one always stays."""
    placed = []
    for class_index in classes:
        for _ in range(_PLACEMENT_TRIES):
            geom = _sample_geometry(rng, size, class_index)
            if geom is not None and _layout_ok(placed + [geom], size, void_width):
                placed.append(geom)
                break
        else:
            if not placed:
                placed.append(_centred_geometry(size, class_index))
    return placed


def _choose_background(rng, classes, context_prob):
    if rng.random() < context_prob:
        return CLASS_CONTEXT[VOC_CLASSES[classes[int(rng.integers(len(classes)))] - 1]]
    return BACKGROUND_TYPES[int(rng.integers(len(BACKGROUND_TYPES)))]


# ---------------------------------------------------------------- object painting

def _body_colour(rng, background_mean):
    """Class-independent body colour, kept away from the local background colour."""
    best, best_distance = None, -1.0
    for _ in range(12):
        colour = _hsv(rng.uniform(0, 1), rng.uniform(0.12, 0.45), rng.uniform(0.30, 0.80))
        distance = float(np.linalg.norm(colour - background_mean))
        if distance > best_distance:
            best, best_distance = colour, distance
        if distance >= 0.22:
            break
    return best


def _body_texture(rng, size, kind):
    """Multiplicative texture field around 0: speckle (0), stripes (1) or spots (2)."""
    scale = size / 128
    if kind == 0:
        return 0.12 * _fine_noise(rng, size, 0.7 * scale)
    if kind == 1:
        yy, xx = _grid(size)
        theta = rng.uniform(0, np.pi)
        period = rng.uniform(5, 10) * scale
        return 0.13 * np.sin(2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period
                             + rng.uniform(0, 2 * np.pi))
    spots = _fine_noise(rng, size, 1.5 * scale) > 1.0
    return np.where(spots, -0.35, 0.0) + 0.04 * _fine_noise(rng, size, 0.6 * scale)


def _draw_body(rng, image, geom, body_cue):
    colour = _body_colour(rng, image[geom.body].mean(axis=0))
    cued = rng.random() < body_cue
    kind = CLASS_BODY_TEXTURE[VOC_CLASSES[geom.class_index - 1]] if cued else int(rng.integers(3))
    texture = _body_texture(rng, image.shape[0], kind)
    shade = 0.72 + 0.28 * np.sqrt(np.clip(1 - geom.radius[geom.body] ** 2, 0, 1))
    image[geom.body] = colour * (shade * (1 + texture[geom.body]))[:, None]


def _draw_part(rng, image, geom):
    outer, centre, _ = CLASS_PARTS[VOC_CLASSES[geom.class_index - 1]]
    image[geom.part] = rng.uniform(0.05, 0.15)
    image[geom.part_core] = _hsv(PART_HUES[outer] + rng.uniform(-0.02, 0.02),
                                 rng.uniform(0.85, 1.0), rng.uniform(0.85, 1.0))
    image[geom.part_hole & geom.part_core] = _hsv(PART_HUES[centre] + rng.uniform(-0.02, 0.02),
                                                  rng.uniform(0.85, 1.0), rng.uniform(0.85, 1.0))


# ---------------------------------------------------------------- one image

def _bbox(mask):
    ys, xs = np.nonzero(mask)
    return (int(xs.min()) + 1, int(ys.min()) + 1, int(xs.max()) + 1, int(ys.max()) + 1)


def generate_image(seed: int, split: str, index: int, *, image_size: int = 128,
                   max_objects: int = 3, void_width: int = 2,
                   context_prob: float = 0.7, body_cue: float = 0.8) -> SyntheticImage:
    """Draw image `index` of `split` ('train'/'val'); pure function of its arguments."""
    if split not in SPLIT_CODES:
        raise ValueError(f"split must be one of {sorted(SPLIT_CODES)}, got {split!r}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, SPLIT_CODES[split], index]))
    size = image_size
    classes = _sample_classes(rng, int(rng.integers(1, max_objects + 1)))
    geometries = _sample_layout(rng, size, classes, void_width)
    background = _choose_background(rng, [g.class_index for g in geometries], context_prob)

    image = _BACKGROUND_DRAWERS[background](rng, size).astype(np.float32)
    image = _draw_clutter(rng, image)
    for geom in geometries:
        _draw_body(rng, image, geom, body_cue)
        _draw_part(rng, image, geom)
    image *= rng.uniform(0.93, 1.07)
    image += 0.015 * rng.standard_normal(image.shape, dtype=np.float32)
    pixels = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)

    instances = _instance_map(geometries, size)
    void = _void_band(instances, void_width)
    labels = _class_labels(geometries, instances, void)
    objects = []
    for k, geom in enumerate(geometries, start=1):
        visible = instances == k
        if (visible & ~void).any():
            objects.append(SyntheticObject(geom.class_index, geom.body, geom.part, visible,
                                           _bbox(visible), *_full_areas(geom, size)))
    return SyntheticImage(pixels, labels, background, tuple(objects))


# ---------------------------------------------------------------- writing

def _write_bytes_atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _write_text(path: Path, text: str) -> None:
    _write_bytes_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _write_jpeg(path: Path, pixels: np.ndarray, quality: int) -> None:
    image = Image.fromarray(pixels, mode="RGB")
    _write_bytes_atomic(path, lambda tmp: image.save(tmp, format="JPEG", quality=quality,
                                                      subsampling=0, optimize=False))


def _annotation_xml(image_id: str, sample: SyntheticImage) -> str:
    height, width = sample.labels.shape
    lines = [
        "<annotation>",
        "\t<folder>VOC2012</folder>",
        f"\t<filename>{image_id}.jpg</filename>",
        "\t<size>",
        f"\t\t<width>{width}</width>",
        f"\t\t<height>{height}</height>",
        "\t\t<depth>3</depth>",
        "\t</size>",
        "\t<segmented>1</segmented>",
    ]
    for obj in sample.objects:
        xmin, ymin, xmax, ymax = obj.bbox
        lines += [
            "\t<object>",
            f"\t\t<name>{obj.class_name}</name>",
            "\t\t<pose>Unspecified</pose>",
            "\t\t<truncated>0</truncated>",
            "\t\t<difficult>0</difficult>",
            "\t\t<bndbox>",
            f"\t\t\t<xmin>{xmin}</xmin>",
            f"\t\t\t<ymin>{ymin}</ymin>",
            f"\t\t\t<xmax>{xmax}</xmax>",
            f"\t\t\t<ymax>{ymax}</ymax>",
            "\t\t</bndbox>",
            "\t</object>",
        ]
    lines.append("</annotation>")
    return "\n".join(lines) + "\n"


def _check_arguments(seed, n_train, n_val, image_size, max_objects, void_width,
                     context_prob, body_cue, jpeg_quality):
    checks = [
        (isinstance(seed, (int, np.integer)) and seed >= 0, f"seed must be an int >= 0, got {seed!r}"),
        (n_train >= 0 and n_val >= 0, f"n_train/n_val must be >= 0, got {n_train}/{n_val}"),
        (image_size >= 32, f"image_size must be >= 32, got {image_size}"),
        (max_objects >= 1, f"max_objects must be >= 1, got {max_objects}"),
        (void_width >= 0, f"void_width must be >= 0, got {void_width}"),
        (0.0 <= context_prob <= 1.0, f"context_prob must be in [0, 1], got {context_prob}"),
        (0.0 <= body_cue <= 1.0, f"body_cue must be in [0, 1], got {body_cue}"),
        (1 <= jpeg_quality <= 100, f"jpeg_quality must be in [1, 100], got {jpeg_quality}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def generate_synthetic_voc(root, *, seed: int = 0, n_train: int = 400, n_val: int = 100,
                           image_size: int = 128, max_objects: int = 3, void_width: int = 2,
                           context_prob: float = 0.7, body_cue: float = 0.8, jpeg_quality: int = 95,
                           progress: bool = True) -> dict:
    """Write a synthetic VOC2012-layout dataset under `root` and return a summary dict.

    Layout: JPEGImages/<id>.jpg, SegmentationClass/<id>.png, Annotations/<id>.xml,
    ImageSets/Segmentation/{train,val,trainval}.txt, ids ``train_00000``, ``val_00000``...
    Existing files of the same names are overwritten; nothing else is removed.
    """
    from tqdm import tqdm

    _check_arguments(seed, n_train, n_val, image_size, max_objects, void_width,
                     context_prob, body_cue, jpeg_quality)
    root = Path(root)
    dirs = {name: root / name for name in ("JPEGImages", "SegmentationClass", "Annotations")}
    sets_dir = root / "ImageSets" / "Segmentation"
    for directory in (*dirs.values(), sets_dir):
        directory.mkdir(parents=True, exist_ok=True)

    jobs = [("train", i) for i in range(n_train)] + [("val", i) for i in range(n_val)]
    ids = {"train": [], "val": []}
    class_counts = dict.fromkeys(VOC_CLASSES, 0)
    object_counts = dict.fromkeys(VOC_CLASSES, 0)
    background_counts = dict.fromkeys(BACKGROUND_TYPES, 0)
    n_objects = n_in_context = 0
    for split, index in tqdm(jobs, disable=not progress, desc="synthetic VOC", unit="img"):
        sample = generate_image(seed, split, index, image_size=image_size,
                                max_objects=max_objects, void_width=void_width,
                                context_prob=context_prob, body_cue=body_cue)
        image_id = f"{split}_{index:05d}"
        _write_jpeg(dirs["JPEGImages"] / f"{image_id}.jpg", sample.image, jpeg_quality)
        write_label_png(dirs["SegmentationClass"] / f"{image_id}.png", sample.labels)
        _write_text(dirs["Annotations"] / f"{image_id}.xml", _annotation_xml(image_id, sample))
        ids[split].append(image_id)

        names = {obj.class_name for obj in sample.objects}
        for name in names:
            class_counts[name] += 1
        for obj in sample.objects:
            object_counts[obj.class_name] += 1
        background_counts[sample.background] += 1
        n_objects += len(sample.objects)
        n_in_context += any(CLASS_CONTEXT[name] == sample.background for name in names)

    for name, members in (("train", ids["train"]), ("val", ids["val"]),
                          ("trainval", ids["train"] + ids["val"])):
        _write_text(sets_dir / f"{name}.txt", "".join(f"{i}\n" for i in members))

    total = max(1, len(jobs))
    return {
        "root": str(root),
        "train": n_train,
        "val": n_val,
        "image_size": image_size,
        "class_counts": class_counts,        # images containing each class
        "object_counts": object_counts,      # objects of each class
        "background_counts": background_counts,
        "mean_objects": n_objects / total,
        "context_rate": n_in_context / total,  # images whose background is a class's preferred one
    }
