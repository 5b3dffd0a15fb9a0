"""snakezmq: snakemq 1.6's API on ZeroMQ.

Change ``import snakemq.link`` to ``import snakezmq.link`` (and so on); the
classes, callbacks and defaults stay the same.
"""
from __future__ import annotations

import logging
from typing import IO, Optional

__version__ = "0.1.0"


def init_logging(stream: Optional[IO[str]] = None) -> None:
    """Log snakezmq to ``stream`` (stderr by default), as snakemq's does.

    Like snakemq, this sets the ``snakezmq`` logger to CRITICAL: lower it
    (``logging.getLogger("snakezmq").setLevel(logging.INFO)``) to see more.
    Unlike snakemq, calling it twice does not add a second handler.
    """
    logger = logging.getLogger("snakezmq")
    logger.setLevel(logging.CRITICAL)
    for handler in logger.handlers:
        if getattr(handler, "_snakezmq_init_logging", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    setattr(handler, "_snakezmq_init_logging", True)
    logger.addHandler(handler)
