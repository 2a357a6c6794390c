"""The dashboard server's log: ``logs/server.log`` in the store's folder, rotated (``core.runs.logs`` says how large
it may grow). What the server's own modules log goes there: workers started, the Ray dispatcher's errors."""

from __future__ import annotations

from pathlib import Path

from core.runs.logs import log_to_file
from core.runs.store import default_store_root


def setup_server_log(store_root: str | Path | None = None) -> Path:
    """Start the server's rotating log (once per process: Streamlit reruns the page script, this adds nothing
    then); returns its path."""
    return log_to_file(store_root if store_root is not None else default_store_root(), "server")
