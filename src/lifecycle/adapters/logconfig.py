"""structlog set-up for the CLI: quiet by default, JSON lines when asked for."""

from __future__ import annotations

import logging
import sys

import structlog


def configure(*, json: bool = False, verbose: bool = False, level: int | None = None) -> None:
    """Configure structlog to write to standard error.

    Args:
        json: one JSON object per log event (machine-readable).
        verbose: show debugging and informational events (default: warnings and errors
            only).
        level: the least level shown, when neither default suits (``lifecycle serve``
            logs every request at INFO).
    """
    if level is None:
        level = logging.DEBUG if verbose else logging.WARNING
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
