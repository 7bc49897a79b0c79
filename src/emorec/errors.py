"""User-facing errors: the CLI prints their message on one line, no traceback."""
from __future__ import annotations


class EmorecError(Exception):
    """An error caused by the user's input or environment, with advice in the message."""


class InputError(EmorecError):
    """A file or array that cannot be used (unreadable, empty, too large, wrong type)."""


class DatasetError(EmorecError):
    """A dataset folder or file that is missing or malformed."""


class ModelError(EmorecError):
    """A model file or model card that is missing or inconsistent."""


class UsageError(EmorecError):
    """A wrong name or option (unknown detector, model, dataset): the message lists the valid ones."""
