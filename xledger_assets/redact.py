"""Keep secrets out of logs, exception messages and metadata.

A flexlink URL carries its credential in the query string (``...xlsx?t=<token>``), and the API
token travels in a header; both end up in places people read: httpx logs every request URL at
INFO, exceptions from HTTP libraries carry the request, and Dagster shows log lines and error
messages in its UI. So every text that may contain one goes through :func:`redact`, and the
httpx/httpcore loggers get a filter (:func:`install_log_redaction`) that does the same to their
records before any handler sees them.

Two things are masked: values registered with :func:`register_secret` (wherever they appear),
and the value of any ``t=`` query parameter, registered or not (``?t=***``).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

MASK = "***"

#: Shorter values are not registered: masking every "ab" in a log line would hide more than it
#: protects, and nothing that short is a real credential.
MIN_SECRET_LENGTH = 4

#: The loggers that write request URLs or raw HTTP traffic. httpcore logs on child loggers, and a
#: filter on a parent logger does not see records logged on its children, so each is listed.
HTTP_LOGGERS: tuple[str, ...] = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)

# ``t=`` after ``?``, ``&`` or ``;`` (also HTML-escaped ``&amp;t=``), and its percent-encoded form
# inside another URL (``%3Ft%3D``/``%26t%3D``). The value runs to the next separator or quote.
_T_PARAM = re.compile(r"(?i)([?&;]t=)[^&#\s\"'<>]+")
_T_PARAM_ENCODED = re.compile(r"(?i)((?:%3F|%26)t%3D)(?:(?!%26|%23)[^&#\s\"'<>])+")

_lock = threading.Lock()
_secrets: set[str] = set()
_secrets_pattern: re.Pattern[str] | None = None


def register_secret(value: str | None) -> None:
    """Mask ``value`` (and its percent-encoded form) in everything :func:`redact` touches.

    Call it as soon as a secret is read from the environment, before anything can log it.
    Empty values and values shorter than :data:`MIN_SECRET_LENGTH` are ignored.
    """
    if value is None:
        return
    value = value.strip()
    if len(value) < MIN_SECRET_LENGTH:
        return
    global _secrets_pattern
    with _lock:
        before = len(_secrets)
        _secrets.add(value)
        _secrets.add(quote(value, safe=""))
        if len(_secrets) != before:
            ordered = sorted(_secrets, key=len, reverse=True)  # longest first: no partial masks
            _secrets_pattern = re.compile("|".join(re.escape(s) for s in ordered))


def redact(text: object) -> str:
    """``text`` as a string with registered secrets and ``t=`` query values masked."""
    out = text if isinstance(text, str) else str(text)
    pattern = _secrets_pattern
    if pattern is not None:
        out = pattern.sub(MASK, out)
    out = _T_PARAM.sub(lambda m: m.group(1) + MASK, out)
    return _T_PARAM_ENCODED.sub(lambda m: m.group(1) + MASK, out)


def redact_url(url: object) -> str:
    """A URL that is safe to show: the ``t`` parameter's value replaced by ``***``.

    Accepts a string or anything whose ``str()`` is a URL (such as ``httpx.URL``). Other query
    parameters are kept, so the link stays recognisable (host, path, numeric flexlink id).
    """
    text = str(url)
    try:
        parts = urlsplit(text)
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return redact(text)
    if query:
        masked = [(k, MASK if k.lower() == "t" else v) for k, v in query]
        text = urlunsplit(parts._replace(query=urlencode(masked, safe="*")))
    return redact(text)


class SecretRedactingFilter(logging.Filter):
    """Rewrites a record's message (and formatted traceback) through :func:`redact`.

    The message is rendered once (``msg % args``) and frozen, because the URL usually arrives as
    an argument (``httpx.URL``), not in the format string. A traceback is formatted here and its
    raw ``exc_info`` dropped, so no later formatter can render the unredacted original.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not break logging
            message = f"{record.msg} {record.args}"
        record.msg = redact(message)
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = SecretRedactingFilter()


def install_log_redaction(extra_loggers: Iterable[str] = ()) -> None:
    """Attach the redacting filter to the HTTP loggers (and ``extra_loggers``); idempotent.

    Also covers any already created child logger of ``httpx``/``httpcore``. Cheap enough to call
    before every download, which also catches child loggers created since the last call.
    """
    names = set(HTTP_LOGGERS) | set(extra_loggers)
    for existing in list(logging.Logger.manager.loggerDict):
        if existing.startswith(("httpx.", "httpcore.")):
            names.add(existing)
    for name in sorted(names):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
