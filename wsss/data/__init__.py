"""Datasets: the VOC layout reader, the synthetic generator, image-level labels, torch datasets."""
