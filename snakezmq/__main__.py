"""``python -m snakezmq``: the ``snakezmq`` command."""
from __future__ import annotations

from ._cli import main

raise SystemExit(main())
