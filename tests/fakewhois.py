"""A fake whois service on 127.0.0.1 for the whois tests (no internet).

FakeWhois starts three port-43-style listeners on free ports, each in its
own thread:

  iana       answers "TLD" queries the way whois.iana.org does: a "refer:"
             line naming the registry listener (or none for "nowhois").
  registry   answers "domain" queries as a registry; what it does depends on
             the first label of the domain (see REGISTRY below).
  registrar  answers as a registrar (thick record, other dates).

Every query is counted per listener (`fw.count("registry")`, `fw.queries`).
Run it by hand with `/usr/bin/python3 tests/fakewhois.py` to poke at it.
"""
import socket
import socketserver
import sys
import threading
import time

NOWHOIS_TLD = "aq"  # IANA names no whois server for it
NAMED_TLD = "fi"  # IANA refers to the registry by the name "localhost"
REGISTRY_CREATED = "1997-09-15T04:00:00Z"
REGISTRAR_CREATED = "1997-09-15T07:00:00Z"


def thick(domain, created=REGISTRY_CREATED, registrar="Example Registrar, Inc.",
          extra=""):
    return (
        f"   Domain Name: {domain.upper()}\r\n"
        f"   Registry Domain ID: 2138514_DOMAIN_COM-VRSN\r\n"
        f"{extra}"
        f"   Updated Date: 2019-09-09T15:39:04Z\r\n"
        f"   Creation Date: {created}\r\n"
        f"   Registry Expiry Date: 2028-09-14T04:00:00Z\r\n"
        f"   Registrar: {registrar}\r\n"
        f"   Registrar IANA Id: 292\r\n"
        f"   Domain Status: clientDeleteProhibited\r\n"
        f">>> Last update of whois database: 2024-01-01T00:00:00Z <<<\r\n"
        "\r\nNOTICE: The expiration date displayed in this record is the date "
        "the\r\nregistrar's sponsorship of the domain name registration in "
        "the registry is\r\ncurrently set to expire.\r\n")


class FakeWhois:
    def __init__(self):
        self.queries = []  # (listener, query) in arrival order
        self.times = []  # time.monotonic() of each query
        self.active = 0  # connections being answered now
        self.max_active = 0
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.servers = {}
        for role in ("iana", "registry", "registrar"):
            self.servers[role] = self._listen(role)
        # a port nobody listens on, for "connection refused"
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.closed_port = s.getsockname()[1]
        s.close()

    def port(self, role):
        return self.servers[role].server_address[1]

    def addr(self, role):
        return f"127.0.0.1:{self.port(role)}"

    def count(self, role=None, query=None):
        with self.lock:
            return sum(1 for r, q in self.queries
                       if (role is None or r == role) and
                       (query is None or q == query))

    def reset(self):
        with self.lock:
            self.queries.clear()
            self.times.clear()
            self.max_active = 0

    def close(self):
        self.stop_event.set()
        for srv in self.servers.values():
            srv.shutdown()
            srv.server_close()

    def _listen(self, role):
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.settimeout(5)
                data = b""
                try:
                    while b"\n" not in data and len(data) < 4096:
                        chunk = self.request.recv(1024)
                        if not chunk:
                            break
                        data += chunk
                except OSError:
                    return
                q = data.decode("utf-8", "replace").strip()
                with fake.lock:
                    fake.queries.append((role, q))
                    fake.times.append(time.monotonic())
                    fake.active += 1
                    fake.max_active = max(fake.max_active, fake.active)
                try:
                    getattr(fake, "answer_" + role)(self.request, q)
                except OSError:
                    pass
                finally:
                    with fake.lock:
                        fake.active -= 1

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 128

        srv = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        return srv

    # ---- the roles ---------------------------------------------------
    def answer_iana(self, sock, q):
        tld = q.lower()
        if tld == NOWHOIS_TLD:
            sock.sendall(b"% IANA WHOIS server\n% This query returned 0 "
                         b"objects.\n")
            return
        server = self.addr("registry")
        if tld == NAMED_TLD:
            server = f"localhost:{self.port('registry')}"
        sock.sendall(
            f"% IANA WHOIS server\n\n"
            f"refer:        {server}\n\n"
            f"domain:       {tld.upper()}\n\n"
            f"whois:        {server}\n\n"
            f"created:      1985-01-01\nchanged:      2023-11-10\n"
            f"source:       IANA\n".encode())

    def answer_registry(self, sock, q):
        domain = q.lower()
        kind = domain.split(".")[0].split("-")[0]
        if kind == "thin":
            # a thin registry: dates, and the registrar's server to ask
            sock.sendall(thick(domain, extra=(
                f"   Registrar WHOIS Server: {self.addr('registrar')}\r\n"))
                .encode())
        elif kind == "badport":
            sock.sendall(thick(domain, extra=(
                "   Registrar WHOIS Server: 127.0.0.1:25\r\n")).encode())
        elif kind == "deadref":
            sock.sendall(thick(domain, extra=(
                f"   Registrar WHOIS Server: 127.0.0.1:{self.closed_port}\r\n"))
                .encode())
        elif kind == "slow":
            # never answers; ends when the client gives up
            sock.settimeout(0.05)
            end = time.monotonic() + 30
            while time.monotonic() < end and not self.stop_event.is_set():
                try:
                    if not sock.recv(1024):
                        break
                except socket.timeout:
                    continue
        elif kind == "huge":
            sock.sendall(thick(domain).encode())
            line = b"% padding " + b"x" * 100 + b"\r\n"
            for _ in range(10000):  # about 1 MB, over the 256 kB cap
                sock.sendall(line)
        elif kind == "garbage":
            sock.sendall(bytes(range(256)) * 8 + b"\x00\xff\xfe:::\n[[[\n")
        elif kind == "throttle":
            sock.sendall(b"WHOIS LIMIT EXCEEDED - SEE WWW.PIR.ORG/WHOIS "
                         b"FOR DETAILS\r\n")
        elif kind == "ratelimit":
            sock.sendall(b"%% Query rate exceeded. Try again later.\r\n")
        elif kind == "free":
            sock.sendall(f"Domain:             {domain}\r\n"
                         f"Status:             AVAILABLE\r\n".encode())
        elif kind == "missing":
            sock.sendall(f'No match for "{domain.upper()}".\r\n>>> Last '
                         f"update of whois database: 2024-01-01T00:00:00Z "
                         f"<<<\r\n".encode())
        else:
            sock.sendall(thick(domain).encode())

    def answer_registrar(self, sock, q):
        sock.sendall(thick(q.lower(), created=REGISTRAR_CREATED,
                           registrar="Fake Registrar LLC").encode())


def main():
    fw = FakeWhois()
    for role in fw.servers:
        print(f"{role} {fw.addr(role)}", flush=True)
    print(f"refused 127.0.0.1:{fw.closed_port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fw.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
