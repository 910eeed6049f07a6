"""Attention methods (CAM and its variants turned into class maps) and classifier training methods.

Each method is a wsss.methods.base.ClassifierMethod subclass in one module of this package, registered
there under its name with @register. MODULES is the registry's table, readable without torch (the
Snakefile reads it to declare the files a rule computes with): each method's name -> the modules of
this package it computes with, the one that defines it first. Training methods add their loss terms in
this order. Adding a method is its module plus its line here (docs/adding-a-method.md).
"""

MODULES = {
    "cam": ("cam",),
    "gradcam": ("gradcam",),
    "entropy": ("entropy",),
    "label_smoothing": ("entropy",),
    "confidence_penalty": ("entropy",),
    "puzzle": ("puzzle",),
    "eader": ("eader", "cam", "gradcam"),
    "hide_and_seek": ("hide_and_seek",),
    "cutmix": ("cutmix",),
    "adl": ("adl",),
}
