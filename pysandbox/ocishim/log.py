"""The runtime's log: --log FILE in --log-format text or json, as runc writes it.

Docker shows its users the last {"level":"error","msg":...} line of this file
when a verb fails, so error messages say in words what went wrong.
"""
import json
import sys

from pysandbox.ocishim.state import now_rfc3339

LEVELS = ("debug", "info", "warning", "error")


class Log:
    def __init__(self, path=None, log_format="text", debug=False):
        self.path = path
        self.format = log_format
        self.debug_enabled = debug
        self._file = None

    def _stream(self):
        if self.path is None:
            return sys.stderr
        if self._file is None:
            try:
                self._file = open(self.path, "a", buffering=1)
            except OSError as error:
                print(f"pysandbox: --log {self.path}: {error.strerror.lower()}", file=sys.stderr)
                self.path = None
                return sys.stderr
        return self._file

    def write(self, level, message):
        if level == "debug" and not self.debug_enabled:
            return
        if self.format == "json":
            line = json.dumps({"level": level, "msg": message, "time": now_rfc3339()}, separators=(",", ":"))
        else:
            line = f'time="{now_rfc3339()}" level={level} msg="{message}"' if self.path else f"pysandbox: {message}"
        try:
            print(line, file=self._stream(), flush=True)
        except OSError:
            pass

    def error(self, message):
        self.write("error", message)
        if self.path is not None:
            # runc also says it on stderr, for people running it by hand
            try:
                print(f"pysandbox: {message}", file=sys.stderr, flush=True)
            except OSError:
                pass

    def warning(self, message):
        self.write("warning", message)

    def info(self, message):
        self.write("info", message)

    def debug(self, message):
        self.write("debug", message)

    def fileno(self):
        """The fd the log is written to (opened now if need be)."""
        return self._stream().fileno()

    def reopen_after_fork(self):
        """A forked sandbox process writes through its own file object."""
        self._file = None
