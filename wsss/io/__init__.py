"""Files: palette PNGs, HDF5 CAM caches, checkpoints."""
