"""Helpers for the ingestd integration tests: run a real ingestd on
127.0.0.1 with free ports against the test cluster, talk SMTP to it, and
read back what reached PostgreSQL."""
import os
import pathlib
import re
import signal
import socket
import ssl
import subprocess
import time
import urllib.request

TOP = pathlib.Path(__file__).resolve().parent.parent
INGESTD = TOP / "ingestd" / "ingestd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(fn, timeout=20):
    """fn()'s first true value within timeout seconds, else its last."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    return fn()


def sensor_name(request):
    """A sensor name unique to the test, to find its rows."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", request.node.name)[:60] + f"_{os.getpid()}"


class Ingestd:
    """A running ingestd; settings are --key=value flags."""

    def __init__(self, pg, workdir, sensor, **settings):
        self.pg = pg
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.spool = self.workdir / "spool"
        self.port = free_port()
        self.metrics_port = free_port()
        self.sensor = sensor
        self.settings = {
            "listen": f"127.0.0.1:{self.port}",
            "metrics_listen": f"127.0.0.1:{self.metrics_port}",
            "spool_dir": str(self.spool),
            "sensor": sensor,
            "hostname": "mx.test.example",
            "pg_dsn": pg.dsn(user="spamlab_ingest"),
            "janitor_interval_ms": "100",
            "drain_timeout": "5",
            # the persona's delays cost wall-clock time in every session;
            # tests that measure them switch them on
            "persona_delay": "off",
            # no DNS server is reachable in CI: a lookup would hold every
            # banner for rdns_timeout (tests/test_rdns.py runs a fake one)
            "rdns": "off",
            # 250 replies name the row (queued_id()); production shows the
            # persona's own queue-id format
            "queue_id": "message",
        }
        self.settings.update({k: str(v) for k, v in settings.items()})
        self.proc = None
        self.logpath = self.workdir / "ingestd.log"
        self.starts = 0

    def start(self):
        args = [str(INGESTD)] + [f"--{k}={v}" for k, v in self.settings.items()]
        self.log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(args, stderr=self.log, stdout=self.log)
        self.starts += 1
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ingestd exited: {self.logtext()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.5) as s:
                    s.recv(512)  # the greeting; then let the probe session end
                time.sleep(0.1)
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("ingestd did not start listening")

    def logtext(self):
        return self.logpath.read_text(errors="replace")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
            self.log.close()
        return self.proc.returncode if self.proc else None

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def metrics(self):
        text = urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ).read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                out[k] = float(v)
        return out

    def wait_rows(self, conn, n, timeout=30, table="spamlab.message"):
        """Wait until this sensor has at least n rows in table."""
        deadline = time.time() + timeout
        got = -1
        while time.time() < deadline:
            got = conn.execute(
                f"SELECT count(*) FROM {table} WHERE sensor = %s", (self.sensor,)
            ).fetchone()[0]
            if got >= n:
                return got
            time.sleep(0.1)
        raise AssertionError(f"{got} rows in {table}, wanted {n}")


class Client:
    """A raw SMTP client over a socket (optionally TLS)."""

    def __init__(self, port, tls=False, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self.sock = ctx.wrap_socket(self.sock)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def reply(self):
        """One (possibly multi-line) reply: (code, text)."""
        lines = []
        while True:
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed: " + repr(lines))
                self.buf += chunk
            line, _, self.buf = self.buf.partition(b"\n")
            line = line.rstrip(b"\r").decode(errors="replace")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), "\n".join(lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def closed(self, timeout=10):
        """True once the server closed the connection."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self):
        self.sock.close()


def queued_id(text):
    m = re.search(r"queued as ([0-9a-f-]{36})", text)
    return m.group(1) if m else None
