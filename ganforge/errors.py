"""User-facing errors.

Anything a user can cause (a missing file, an unknown preset or key, a wrong shape, a checkpoint from
another model) raises :class:`GanforgeError` with a one-line message that names the thing and what was
expected. The CLI prints that line to stderr and exits with status 2, with no traceback.
"""


class GanforgeError(Exception):
    """A problem with the user's input; its message is one line meant for the user."""


class TrainingDiverged(GanforgeError):
    """Training produced a loss (or an evaluation score) that is not finite. A single run reports it like any
    other bad input; a hyperparameter sweep records the trial as diverged and goes on with the next one."""


class DataMismatch(GanforgeError):
    """Data that do not fit a setting that is fine in itself (a pair task that needs colour images given a
    grayscale set). Raised where the data set's name is unknown; the training loop, which knows it, names it
    in front of the message."""


class GanforgeWarning(UserWarning):
    """A result that is computed but may mislead (e.g. a bandwidth chosen on images the model trained on);
    the CLI prints it as one ``ganforge: warning: ...`` line on stderr, and the protocol records it."""
