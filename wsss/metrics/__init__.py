"""Evaluation: confusion-matrix mIoU and friends."""
