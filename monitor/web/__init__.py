"""`ordermon serve`: a read-only dashboard and JSON API on the monitor's database.

The pages and the API show the rules' judgement as ``ordermon status`` makes it
(``monitor.views``), never their own; ``Board`` makes it once per change of the database.
"""

from __future__ import annotations

from .app import create_app
from .board import Board

__all__ = ["Board", "create_app"]
