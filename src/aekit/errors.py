"""aekit's own error types: every one carries a message that names the problem and the fix."""


class AekitError(Exception):
    """Base of all errors aekit raises on purpose; the CLI prints them as one line and exits 2."""


class DataError(AekitError):
    """Input data is missing, unreadable, malformed, or unfit for the model (say which and how to fix)."""


class ConfigError(AekitError, ValueError):
    """A configuration value is invalid (unknown name, out-of-range size, conflicting options)."""


class ModelFileError(AekitError):
    """A saved model file or run folder is missing, truncated, tampered with or inconsistent."""


class TrainingError(AekitError):
    """Training cannot go on (a NaN or inf loss, an interrupted run that cannot resume)."""
