"""Attention methods: CAM (and its variants) turned into class maps."""
