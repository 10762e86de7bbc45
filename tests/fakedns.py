"""A small fake DNS server for tests: UDP on 127.0.0.1, a free port.

It answers PTR, A and AAAA questions from a table, says NXDOMAIN for names
it does not know (NOERROR with no answer for a known name without records
of the asked type), SERVFAIL for the names in `servfail`, and never answers
the names in `silent` (a timeout).  Every question is counted in `queries`
as (name in lower case, type name).  The question is echoed byte for byte
(evdns randomises the case of the name it asks and checks the echo).

    dns = FakeDNS()
    dns.ptr("127.0.0.1", "Host.Example.TEST.")
    dns.a("host.example.test", "127.0.0.1")
    ... dns.port ...
    dns.stop()
"""
import ipaddress
import socket
import struct
import threading

TYPES = {1: "A", 12: "PTR", 28: "AAAA"}
CODES = {v: k for k, v in TYPES.items()}


def reverse_name(ip):
    """The in-addr.arpa / ip6.arpa name of an address."""
    return ipaddress.ip_address(ip).reverse_pointer


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode()
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def parse_question(pkt):
    """(id, flags, name, qtype, question bytes) of a query, or None."""
    if len(pkt) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", pkt[:6])
    if qd != 1:
        return None
    pos, labels = 12, []
    while True:
        if pos >= len(pkt):
            return None
        n = pkt[pos]
        if n == 0:
            pos += 1
            break
        if n > 63 or pos + 1 + n > len(pkt):
            return None
        labels.append(pkt[pos + 1:pos + 1 + n].decode("latin-1"))
        pos += 1 + n
    if pos + 4 > len(pkt):
        return None
    qtype, _qclass = struct.unpack("!HH", pkt[pos:pos + 4])
    return qid, flags, ".".join(labels), qtype, pkt[12:pos + 4]


class FakeDNS:
    def __init__(self):
        self.records = {}  # (name, type) -> [rdata bytes]
        self.servfail = set()
        self.silent = set()
        self.queries = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    # ---- the table ----

    def clear(self):
        with self.lock:
            self.records.clear()
            self.servfail.clear()
            self.silent.clear()
            self.queries.clear()

    def _add(self, name, qtype, rdata):
        with self.lock:
            self.records.setdefault((name.lower().rstrip("."), qtype),
                                    []).append(rdata)

    def ptr(self, ip, name):
        self._add(reverse_name(ip), "PTR", encode_name(name))

    def a(self, name, ip):
        self._add(name, "A", ipaddress.IPv4Address(ip).packed)

    def aaaa(self, name, ip):
        self._add(name, "AAAA", ipaddress.IPv6Address(ip).packed)

    def count(self, qtype=None):
        with self.lock:
            return sum(1 for _, t in self.queries if qtype in (None, t))

    # ---- serving ----

    def answer(self, pkt):
        """The reply to one query packet, or None (no answer)."""
        q = parse_question(pkt)
        if q is None:
            return None
        qid, flags, name, qtype, question = q
        key = name.lower()
        tname = TYPES.get(qtype, str(qtype))
        with self.lock:
            self.queries.append((key, tname))
            if key in self.silent:
                return None
            rcode, answers = 0, self.records.get((key, tname), [])
            if key in self.servfail:
                rcode, answers = 2, []
            elif not answers and not any(k == key for k, _ in self.records):
                rcode = 3
        head = struct.pack("!HHHHHH", qid, 0x8180 | (flags & 0x0100) | rcode,
                           1, len(answers), 0, 0)
        body = b"".join(
            struct.pack("!HHHIH", 0xC00C, qtype, 1, 60, len(r)) + r
            for r in answers)
        return head + question + body

    def _serve(self):
        self.sock.settimeout(0.2)
        while self.running:
            try:
                pkt, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            reply = self.answer(pkt)
            if reply is not None:
                self.sock.sendto(reply, peer)

    def stop(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()
