"""Errors that name the offending file or config key."""


class WSSSError(Exception):
    """Base class: every message names the file or key and the problem."""


class DatasetError(WSSSError):
    """A dataset file is missing, unreadable or inconsistent."""


class CacheError(WSSSError):
    """An HDF5 cache does not match what the reader expects."""
