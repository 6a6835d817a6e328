"""One exception type for every problem with what the user gave us (files, folders, flags).

Its message is a single line naming the file and what is wrong; the CLI prints it and exits 2, the app
shows it in an error box. Anything else escaping is a bug in AVVP Lab.
"""

from __future__ import annotations

import lzma
import zipfile
import zlib
from pathlib import Path

# What reading a damaged zip (an upload, a .npz, a torch file) can raise besides InputError: a bad central directory
# or CRC (BadZipFile), truncation (EOFError, OSError), an unsupported or encrypted member (NotImplementedError,
# RuntimeError) and a corrupt deflate or lzma stream (zlib.error, LZMAError: not OSErrors; bzip2's is). Every reader
# catches all of them, so one flipped byte gives one line, not a traceback. Not ValueError: InputError is one, and a
# reader's own refusal raised inside its try must pass through unchanged (opening an archive adds it: bad offsets).
ZIP_READ_ERRORS = (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, zlib.error, lzma.LZMAError)


class InputError(ValueError):
    """Bad user input: the message is one line, naming the file (when there is one) and the problem."""

    def __init__(self, message: str, path: str | Path | None = None, hint: str | None = None):
        text = f"{path}: {message}" if path is not None else message
        if hint:
            text = f"{text} ({hint})"
        super().__init__(" ".join(text.split()))  # guarantee one line
        self.path = None if path is None else str(path)
