"""Every error the product raises on purpose, each with a message a user can act on.

Messages never contain secrets (API token, flexlink URLs); see :mod:`xledger_assets.redact`.
"""

from __future__ import annotations


class XledgerAssetsError(Exception):
    """Base class: an expected failure with a plain message."""


class ConfigurationError(XledgerAssetsError):
    """A missing or malformed environment variable or setting (the message names it)."""


# --- Xledger API -----------------------------------------------------------------------------


class XledgerApiError(XledgerAssetsError):
    """Xledger answered with an error that retrying will not fix."""


class XledgerAuthError(XledgerApiError):
    """The API token was refused."""


class XledgerRateLimitError(XledgerApiError):
    """Rate limits or credits did not clear in time."""


class XledgerTransientError(XledgerApiError):
    """Transient failures (5xx, timeouts, broken bodies) outlasted the retry budget."""


class DeltaCursorExpiredError(XledgerApiError):
    """Xledger no longer has the deltas after the stored cursor: a full load is needed."""


class PagingError(XledgerApiError):
    """The connection paged inconsistently (a repeated cursor, a missing cursor)."""


# --- Data -------------------------------------------------------------------------------------


class ValueConversionError(XledgerAssetsError):
    """A value did not fit its column type; nothing was written."""


# --- Sync, lake, state ----------------------------------------------------------------------


class SyncError(XledgerAssetsError):
    """A sync could not run (for example another sync of the dataset holds the lock)."""


class LakeError(XledgerAssetsError):
    """Reading or writing the lake failed."""


class StateError(XledgerAssetsError):
    """Reading or writing the sync state failed."""


class StateConflictError(StateError):
    """Another run committed a newer state first; the newer state was kept."""


# --- Flexlinks --------------------------------------------------------------------------------


class FlexlinkError(XledgerAssetsError):
    """A flexlink could not be downloaded or parsed."""


class FlexlinkLinkError(FlexlinkError):
    """The link answered, but not with the export (HTML page, 404, expired link).

    Retrying does not help: someone has to create a new export link in Xledger and update the
    environment variable named in the message.
    """


class FlexlinkDownloadError(FlexlinkError):
    """The download failed: 5xx, timeouts or connection errors outlasted the retries, or the
    response was larger than the size limit."""


class FlexlinkHeaderError(FlexlinkError):
    """The sheet has no header row with every expected label (the message lists expected and
    found labels)."""


class FlexlinkValueError(FlexlinkError, ValueConversionError):
    """A cell did not fit its column type (the message names sheet row, column label and value)."""


class FlexlinkSubsidiaryError(FlexlinkError):
    """At least one subsidiary's link of a per-subsidiary flexlink failed, so nothing was read.

    ``failures`` maps each failed subsidiary to its error.
    """

    def __init__(self, message: str, failures: dict[str, FlexlinkError] | None = None) -> None:
        super().__init__(message)
        self.failures: dict[str, FlexlinkError] = dict(failures or {})


# --- Azure lake and state ---------------------------------------------------------------------


class LakeFileExistsError(LakeError):
    """A file with that name is already in the lake; lake files are never overwritten."""
