"""One exception type for every problem with what the user gave us (files, folders, flags).

Its message is a single line naming the file and what is wrong; the CLI prints it and exits 2, the app
shows it in an error box. Anything else escaping is a bug in AVVP Lab.
"""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad user input: the message is one line, naming the file (when there is one) and the problem."""

    def __init__(self, message: str, path: str | Path | None = None, hint: str | None = None):
        text = f"{path}: {message}" if path is not None else message
        if hint:
            text = f"{text} ({hint})"
        super().__init__(" ".join(text.split()))  # guarantee one line
        self.path = None if path is None else str(path)
