"""User-facing error types: each message names the file, line or key at fault and the fix."""

from __future__ import annotations


class SsambaError(Exception):
    """Base class of every error ssamba raises on purpose (the CLI prints these without a traceback)."""


class AudioError(SsambaError, ValueError):
    """An audio file is missing, unreadable, empty, too short or holds non-finite samples."""


class ConfigError(SsambaError, ValueError):
    """A configuration file or option is malformed: unknown key, wrong type or impossible value."""


class ManifestError(SsambaError, ValueError):
    """A data manifest has bad rows (bad JSON, missing fields or files, unknown labels)."""


class CheckpointError(SsambaError, ValueError):
    """A checkpoint cannot be loaded: wrong family, missing/unexpected keys, wrong shapes, unsafe content."""


class DownloadError(SsambaError, OSError):
    """A file cannot be downloaded: offline mode with nothing cached, network failure or checksum mismatch."""


class TrainingError(SsambaError, RuntimeError):
    """Training cannot go on (e.g. too many consecutive steps with non-finite loss or gradients)."""


class RunFolderError(SsambaError, RuntimeError):
    """A run folder (`--out`) is in use by another run, or holds an earlier run (`--resume`/`--overwrite`)."""


class MissingExtraError(SsambaError, ImportError):
    """An optional dependency is needed; the message names the extra to install."""


def require_extra(module: str, extra: str):
    """Import an optional module or raise `MissingExtraError` naming the `pip install` that fixes it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"'{module}' is not installed; install it with: pip install 'ssamba[{extra}]'"
        ) from exc
