"""A dependency-free progress bar with ETA for the command line (stderr)."""

import sys
import time


def format_seconds(s: float) -> str:
    s = int(max(0, s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class ProgressBar:
    """Redraws one line at most ``hz`` times a second on a terminal; prints a line per 10% otherwise."""

    def __init__(self, label: str = "", stream=None, width: int = 28, hz: float = 8):
        self.label, self.stream, self.width = label, stream or sys.stderr, width
        self.interval, self.last_draw, self.last_decile = 1 / hz, 0.0, -1
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()

    def update(self, done: int, total: int, text: str = "", force: bool = False) -> None:
        now = time.perf_counter()
        frac = done / total if total else 1.0
        elapsed = now - self.start
        eta = elapsed / frac * (1 - frac) if frac > 0 else 0
        filled = int(self.width * frac)
        line = (
            f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {100 * frac:5.1f}% "
            f"{done}/{total} {text} elapsed {format_seconds(elapsed)} ETA {format_seconds(eta)}"
        )
        if self.tty:
            if force or now - self.last_draw >= self.interval or done >= total:
                self.stream.write("\r" + line + "\x1b[K")
                self.stream.flush()
                self.last_draw = now
        elif force or int(frac * 10) > self.last_decile:
            self.last_decile = int(frac * 10)
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
