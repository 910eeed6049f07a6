"""Refinement of CAMs into masks: affinity labels, random walk, dense CRF."""
