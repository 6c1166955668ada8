"""Child: a process a command-line test runs, whose stdout lines a thread collects so that
waiting for one can time out, and whose stderr is kept for the failure messages. Plain
Python 3; reports through checks.check()."""
import queue
import subprocess
import threading
import time

from checks import check


class Child:
    def __init__(self, args, stdin=subprocess.DEVNULL, timeout=15):
        self.proc = subprocess.Popen(args, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        self.timeout = timeout
        self.lines = queue.Queue()
        self.seen = []
        self.stderr = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()

    @staticmethod
    def _pump(stream, lines):
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    def expect(self, predicate, what):
        """Waits for a stdout line matching `predicate`; returns it (None on timeout/EOF)."""
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(left, 0.01))
            except queue.Empty:
                line = None
            if line is None:
                check(False, f"{what} (stdout so far: {self.seen}, stderr: {self.stderr})")
                return None
            self.seen.append(line)
            if predicate(line):
                check(True, what)
                return line

    def wait(self):
        """Waits for the exit code (None on timeout); what stdout still held joins `seen`."""
        try:
            code = self.proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
        return code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
