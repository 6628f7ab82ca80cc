#!/usr/bin/env python3
"""dnsrig: DNS test servers and clients with ground truth, for tests/bats/dnssnoop.bats.

Python 3 standard library only.  Every command sends only to the numeric addresses it is
given, and ends by itself (--timeout).

  zone --conf F --truth F            dnsmasq options for the test zone, and the answers
                                     those records must produce (JSON)
  upstream --listen A:P [--drop S] [--servfail S] [--delay S=MS]
                                     a server behind dnsmasq (--server=/S/A#P): drops the
                                     queries under S, answers SERVFAIL, or answers late
  sink --udp A:P --tcp A:P           reads everything, answers nothing (a dropping server,
                                     a DoT listener)
  client --server A [--proto udp|tcp] [--mode each|pipeline|split|retransmit] NAME/TYPE...
                                     queries; one JSON line per query with what was sent
                                     and what came back (pid, tid, comm, ports, id, rcode,
                                     the answers decoded, the latency the client measured)
  dot-client --to A:P                one TCP connection to a DoT port; prints its tuple
  hostile --to A:P --from A:P        malformed DNS messages sent with a raw socket (and
                                     over a TCP connection with --tcp A:P); prints counts
"""

import argparse
import ctypes
import ipaddress
import json
import os
import random
import selectors
import signal
import socket
import struct
import sys
import threading
import time

# ---------------------------------------------------------------- names and types

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28,
         "SRV": 33, "OPT": 41, "SVCB": 64, "HTTPS": 65, "ANY": 255}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
RCODES = {"NOERROR": 0, "FORMERR": 1, "SERVFAIL": 2, "NXDOMAIN": 3, "NOTIMP": 4, "REFUSED": 5}
RCODE_NAMES = {v: k for k, v in RCODES.items()}
SVC_KEYS = {0: "mandatory", 1: "alpn", 2: "no-default-alpn", 3: "port", 4: "ipv4hint",
            5: "ech", 6: "ipv6hint", 7: "dohpath", 8: "ohttp"}


def type_code(name):
    name = name.upper()
    if name in TYPES:
        return TYPES[name]
    if name.startswith("TYPE") and name[4:].isdigit():
        return int(name[4:])
    raise ValueError(f"unknown type {name}")


def type_name(code):
    return TYPE_NAMES.get(code, f"TYPE{code}")


def labels_from_presentation(text):
    """RFC 1035 presentation form (\\. and \\DDD escapes) to a list of raw labels."""
    labels, cur, i = [], bytearray(), 0
    if text in ("", "."):
        return []
    if text.endswith(".") and not text.endswith("\\."):
        text = text[:-1]
    while i < len(text):
        c = text[i]
        if c == "\\":
            if text[i + 1:i + 4].isdigit() and len(text[i + 1:i + 4]) == 3:
                cur.append(int(text[i + 1:i + 4]))
                i += 4
            else:
                cur.extend(text[i + 1].encode())
                i += 2
            continue
        if c == ".":
            labels.append(bytes(cur))
            cur = bytearray()
        else:
            cur.extend(c.encode())
        i += 1
    labels.append(bytes(cur))
    return labels


def escape(data, special, first):
    """Bytes as RFC 1035 text: `special` characters after a backslash, bytes from `first` to
    0x7e as themselves, the others as \\DDD (decimal)."""
    out = ""
    for b in data:
        ch = chr(b)
        if ch in special:
            out += "\\" + ch
        elif first <= b <= 0x7E:
            out += ch
        else:
            out += f"\\{b:03d}"
    return out


def presentation(labels):
    """Raw labels to presentation form, without the trailing dot (the root is ".")."""
    if not labels:
        return "."
    return ".".join(escape(lab, '.\\"();@$', 0x21) for lab in labels)


def encode_name(labels):
    return b"".join(bytes([len(lab)]) + lab for lab in labels) + b"\0"


def charstring(b):
    return escape(b, '"\\', 0x20)


# ---------------------------------------------------------------- messages

def build_query(qid, labels, qtype, rd=True, edns=None):
    flags = 0x0100 if rd else 0
    ar = 1 if edns else 0
    msg = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, ar)
    msg += encode_name(labels) + struct.pack("!HH", qtype, 1)
    if edns:
        size, do = edns
        msg += b"\0" + struct.pack("!HHIH", 41, size, 0x8000 if do else 0, 0)
    return msg


class Reader:
    def __init__(self, msg):
        self.msg = msg

    def name(self, off):
        labels, jumps, end = [], 0, None
        while True:
            n = self.msg[off]
            if n & 0xC0 == 0xC0:
                if end is None:
                    end = off + 2
                off = ((n & 0x3F) << 8) | self.msg[off + 1]
                jumps += 1
                if jumps > 64:
                    raise ValueError("pointer loop")
                continue
            if n == 0:
                return labels, (end if end is not None else off + 1)
            labels.append(bytes(self.msg[off + 1:off + 1 + n]))
            off += 1 + n


def svc_param(key, v):
    name = SVC_KEYS.get(key, f"key{key}")
    if key == 1:
        ids, i = [], 0
        while i < len(v):
            ids.append(charstring(v[i + 1:i + 1 + v[i]]).replace(",", "\\,"))
            i += 1 + v[i]
        return name + "=" + ",".join(ids)
    if key == 3:
        return f"{name}={struct.unpack('!H', v)[0]}"
    if key in (4, 6):
        step = 4 if key == 4 else 16
        return name + "=" + ",".join(str(ipaddress.ip_address(v[i:i + step]))
                                     for i in range(0, len(v), step))
    if key == 2 and not v:
        return name
    return name + '="' + charstring(v) + '"'


def rdata_presentation(r, rtype, off, rdlen):
    msg = r.msg
    rd = msg[off:off + rdlen]
    if rtype == 1:
        return str(ipaddress.IPv4Address(rd))
    if rtype == 28:
        return str(ipaddress.IPv6Address(rd))
    if rtype in (2, 5, 12, 39):
        return presentation(r.name(off)[0])
    if rtype == 15:
        return f"{struct.unpack('!H', rd[:2])[0]} {presentation(r.name(off + 2)[0])}"
    if rtype == 16:
        parts, i = [], 0
        while i < len(rd):
            parts.append('"' + charstring(rd[i + 1:i + 1 + rd[i]]) + '"')
            i += 1 + rd[i]
        return " ".join(parts)
    if rtype == 33:
        prio, weight, port = struct.unpack("!HHH", rd[:6])
        return f"{prio} {weight} {port} {presentation(r.name(off + 6)[0])}"
    if rtype == 6:
        mname, o = r.name(off)
        rname, o = r.name(o)
        nums = struct.unpack("!IIIII", msg[o:o + 20])
        return " ".join([presentation(mname), presentation(rname)] + [str(n) for n in nums])
    if rtype in (64, 65):
        prio = struct.unpack("!H", rd[:2])[0]
        target, o = r.name(off + 2)
        out = [str(prio), presentation(target)]
        while o < off + rdlen:
            key, ln = struct.unpack("!HH", msg[o:o + 4])
            out.append(svc_param(key, msg[o + 4:o + 4 + ln]))
            o += 4 + ln
        return " ".join(out)
    return f"\\# {len(rd)}" + (" " + rd.hex() if rd else "")


def parse_response(msg):
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", msg[:12])
    r = Reader(msg)
    off = 12
    qname = qtype = None
    for _ in range(qd):
        labels, off = r.name(off)
        qtype = struct.unpack("!H", msg[off:off + 2])[0]
        qname = presentation(labels)
        off += 4
    answers = []
    for _ in range(an):
        labels, off = r.name(off)
        rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
        off += 10
        answers.append({"name": presentation(labels), "type": type_name(rtype), "ttl": ttl,
                        "data": rdata_presentation(r, rtype, off, rdlen)})
        off += rdlen
    return {"id": qid, "rcode": RCODE_NAMES.get(flags & 0xF, f"RCODE{flags & 0xF}"),
            "qname": qname, "qtype": type_name(qtype) if qtype is not None else None,
            "flags": {"aa": bool(flags & 0x400), "tc": bool(flags & 0x200),
                      "rd": bool(flags & 0x100), "ra": bool(flags & 0x80),
                      "ad": bool(flags & 0x20), "cd": bool(flags & 0x10)},
            "answers": answers, "authority": ns, "additional": ar}


def set_comm(name):
    if name:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def comm():
    with open("/proc/thread-self/comm") as f:
        return f.read().rstrip("\n")


def split_hostport(s):
    if s.startswith("["):
        host, port = s[1:].split("]:")
    else:
        host, port = s.rsplit(":", 1)
    return host, int(port)


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def write_ready(path, obj):
    if path:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(obj, f)
        os.rename(tmp, path)


def arm_timeout(secs):
    """Every command ends by itself: SIGALRM after `secs` exits 1."""
    def expire(*_):
        sys.stderr.write("dnsrig: --timeout reached\n")
        os._exit(1)
    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, secs)


def stop_on_term():
    def bye(*_):
        sys.stdout.flush()
        os._exit(0)
    signal.signal(signal.SIGTERM, bye)
    signal.signal(signal.SIGINT, bye)


# ---------------------------------------------------------------- zone

def zone(args):
    """The test zone: dnsmasq options (one per line, for --conf-file) and the truth: for each
    "name TYPE", the rcode and answers (as dnssnoop must show them) the records produce."""
    d = args.domain
    ttl = args.ttl

    def rr(name, rtype, data):
        return {"name": name, "type": rtype, "ttl": ttl, "data": data}

    def wire_name(n):
        return encode_name(labels_from_presentation(n)).hex()

    conf, truth = [], {}

    def add(q, answers, rcode="NOERROR"):
        truth[q] = {"rcode": rcode, "answers": answers}

    www, www6 = "10.99.0.1", "fd00:99::1"
    conf.append(f"host-record=www.{d},{www},{www6}")
    add(f"www.{d} A", [rr(f"www.{d}", "A", www)])
    add(f"www.{d} AAAA", [rr(f"www.{d}", "AAAA", www6)])
    conf.append(f"host-record=multi.{d},10.99.0.2")
    conf.append(f"host-record=multi.{d},10.99.0.3")
    add(f"multi.{d} A", [rr(f"multi.{d}", "A", "10.99.0.2"), rr(f"multi.{d}", "A", "10.99.0.3")])
    conf.append(f"cname=alias.{d},www.{d}")
    add(f"multi.{d} AAAA", [])
    add(f"alias.{d} A", [rr(f"alias.{d}", "CNAME", f"www.{d}"), rr(f"www.{d}", "A", www)])
    add(f"alias.{d} AAAA", [rr(f"alias.{d}", "CNAME", f"www.{d}"), rr(f"www.{d}", "AAAA", www6)])
    conf.append(f"ptr-record=7.0.99.10.in-addr.arpa,host7.{d}")
    add("7.0.99.10.in-addr.arpa PTR", [rr("7.0.99.10.in-addr.arpa", "PTR", f"host7.{d}")])
    conf.append(f"mx-host={d},mail.{d},10")
    add(f"{d} MX", [rr(d, "MX", f"10 mail.{d}")])
    conf.append(f"srv-host=_ldap._tcp.{d},ldap.{d},389,5,7")
    add(f"_ldap._tcp.{d} SRV", [rr(f"_ldap._tcp.{d}", "SRV", f"5 7 389 ldap.{d}")])
    conf.append(f'txt-record=txt.{d},"hello world","v=2"')
    add(f"txt.{d} TXT", [rr(f"txt.{d}", "TXT", '"hello world" "v=2"')])
    # an answer larger than one Ethernet frame: 12 TXT records of 200 bytes
    big = [chr(ord("a") + i) * 200 for i in range(12)]
    conf += [f'txt-record=big.{d},"{x}"' for x in big]
    add(f"big.{d} TXT", [rr(f"big.{d}", "TXT", f'"{x}"') for x in big])
    # larger than the snap length of a capture (4 KiB and more): 80 records, ~17 KB over TCP
    huge = [f"{i:03d}" + "x" * 197 for i in range(80)]
    conf += [f'txt-record=huge.{d},"{x}"' for x in huge]
    add(f"huge.{d} TXT", [rr(f"huge.{d}", "TXT", f'"{x}"') for x in huge])
    conf.append(f"dns-rr={d},2,{wire_name('ns1.' + d)}")
    add(f"{d} NS", [rr(d, "NS", f"ns1.{d}")])
    soa = (wire_name(f"ns1.{d}") + wire_name(f"hostmaster.{d}")
           + struct.pack("!IIIII", 2024010101, 3600, 600, 86400, 60).hex())
    conf.append(f"dns-rr={d},6,{soa}")
    add(f"{d} SOA", [rr(d, "SOA", f"ns1.{d} hostmaster.{d} 2024010101 3600 600 86400 60")])
    # HTTPS: 1 . alpn=h2,h3 port=8443 ipv4hint=10.99.0.1
    https = (struct.pack("!H", 1).hex() + "00"
             + struct.pack("!HH", 1, 6).hex() + b"\x02h2\x02h3".hex()
             + struct.pack("!HHH", 3, 2, 8443).hex()
             + struct.pack("!HH", 4, 4).hex() + socket.inet_aton(www).hex())
    conf.append(f"dns-rr=svc.{d},65,{https}")
    add(f"svc.{d} HTTPS", [rr(f"svc.{d}", "HTTPS", "1 . alpn=h2,h3 port=8443 ipv4hint=10.99.0.1")])
    # SVCB: 1 ns1.<d> alpn=dot port=853
    svcb = (struct.pack("!H", 1).hex() + wire_name(f"ns1.{d}")
            + struct.pack("!HH", 1, 4).hex() + b"\x03dot".hex()
            + struct.pack("!HHH", 3, 2, 853).hex())
    conf.append(f"dns-rr=_dns.{d},64,{svcb}")
    add(f"_dns.{d} SVCB", [rr(f"_dns.{d}", "SVCB", f"1 ns1.{d} alpn=dot port=853")])
    # A private type with 4 bytes of data (RFC 3597 form).
    conf.append(f"dns-rr=priv.{d},65534,0a0b0c0d")
    add(f"priv.{d} TYPE65534", [rr(f"priv.{d}", "TYPE65534", "\\# 4 0a0b0c0d")])
    # Not in the zone: NXDOMAIN (--local makes dnsmasq authoritative-ish for d).
    add(f"nx.{d} A", [], "NXDOMAIN")
    conf.append(f"local=/{d}/")
    conf.append(f"local-ttl={ttl}")
    with open(args.conf, "w") as f:
        f.write("\n".join(conf) + "\n")
    with open(args.truth, "w") as f:
        json.dump(truth, f, indent=1)


# ---------------------------------------------------------------- servers

def answer_for(query, rcode=0, addr=None):
    """A response to `query`: the question copied, rcode, and one A/AAAA answer when given."""
    qid, flags = struct.unpack("!HH", query[:4])
    r = Reader(query)
    labels, off = r.name(12)
    qtype = struct.unpack("!H", query[off:off + 2])[0]
    question = query[12:off + 4]
    an = b""
    if addr is not None and rcode == 0:
        if qtype == 1:
            an = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(addr[0])
        elif qtype == 28:
            an = b"\xc0\x0c" + struct.pack("!HHIH", 28, 1, 60, 16) + \
                socket.inet_pton(socket.AF_INET6, addr[1])
    head = struct.pack("!HHHHHH", qid, 0x8180 | (flags & 0x0100) | rcode, 1,
                       1 if an else 0, 0, 0)
    return head + question, labels, an


def upstream_action(rules, labels):
    name = presentation(labels).lower()
    for suffix, action in rules:
        if name == suffix or name.endswith("." + suffix):
            return action
    return ("servfail",)


def upstream(args):
    stop_on_term()
    arm_timeout(args.timeout)
    rules = [(s.lower(), ("drop",)) for s in args.drop]
    rules += [(s.lower(), ("servfail",)) for s in args.servfail]
    for spec in args.delay:
        s, ms = spec.split("=")
        rules.append((s.lower(), ("delay", int(ms) / 1000.0)))
    addr = ("10.99.2.1", "fd00:99::2:1")
    counts = {"queries": 0}

    def reply(query):
        head, labels, an = answer_for(query)
        action = upstream_action(rules, labels)
        counts["queries"] += 1
        if action[0] == "drop":
            return None, 0
        if action[0] == "servfail":
            head, _, an = answer_for(query, rcode=2)
            return head, 0
        head, _, an = answer_for(query, addr=addr)
        return head + an, action[1]

    socks = []
    for spec in args.listen:
        host, port = split_hostport(spec)
        u = socket.socket(family(host), socket.SOCK_DGRAM)
        u.bind((host, port))
        t = socket.socket(family(host), socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((host, port))
        t.listen(64)
        socks += [u, t]

    def udp_loop(u):
        while True:
            q, peer = u.recvfrom(65535)
            resp, delay = reply(q)
            if resp is not None:
                threading.Timer(delay, lambda r=resp, p=peer: u.sendto(r, p)).start()

    def tcp_conn(c):
        buf = b""
        while True:
            data = c.recv(65535)
            if not data:
                break
            buf += data
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                n = struct.unpack("!H", buf[:2])[0]
                q, buf = buf[2:2 + n], buf[2 + n:]
                resp, delay = reply(q)
                if resp is not None:
                    time.sleep(delay)
                    c.sendall(struct.pack("!H", len(resp)) + resp)
        c.close()

    def tcp_loop(t):
        while True:
            c, _ = t.accept()
            threading.Thread(target=tcp_conn, args=(c,), daemon=True).start()

    for s in socks:
        target = udp_loop if s.type == socket.SOCK_DGRAM else tcp_loop
        threading.Thread(target=target, args=(s,), daemon=True).start()
    write_ready(args.ready_file, {"pid": os.getpid()})
    while True:
        time.sleep(3600)


def sink(args):
    """Reads UDP datagrams and TCP connections and never answers."""
    stop_on_term()
    arm_timeout(args.timeout)
    set_comm(args.comm)
    sel = selectors.DefaultSelector()
    ports = {}
    for spec in args.udp:
        host, port = split_hostport(spec)
        u = socket.socket(family(host), socket.SOCK_DGRAM)
        u.bind((host, port))
        sel.register(u, selectors.EVENT_READ, "udp")
        ports.setdefault("udp_port", u.getsockname()[1])
    for spec in args.tcp:
        host, port = split_hostport(spec)
        t = socket.socket(family(host), socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((host, port))
        t.listen(64)
        sel.register(t, selectors.EVENT_READ, "listen")
        ports.setdefault("tcp_port", t.getsockname()[1])
    write_ready(args.ready_file, dict(pid=os.getpid(), **ports))
    counts = {"datagrams": 0, "connections": 0, "tcp_bytes": 0}
    while True:
        for key, _ in sel.select():
            s = key.fileobj
            if key.data == "udp":
                s.recvfrom(65535)
                counts["datagrams"] += 1
            elif key.data == "listen":
                c, _ = s.accept()
                counts["connections"] += 1
                sel.register(c, selectors.EVENT_READ, "conn")
            else:
                data = s.recv(65535)
                counts["tcp_bytes"] += len(data)
                if not data:
                    sel.unregister(s)
                    s.close()


# ---------------------------------------------------------------- clients

def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        data = s.recv(n - len(buf))
        if not data:
            raise ConnectionError("connection closed")
        buf += data
    return buf


def client(args):
    arm_timeout(args.deadline)
    set_comm(args.comm)
    queries = []
    for spec in args.query:
        name, qtype = spec.rsplit("/", 1)
        queries.append((labels_from_presentation(name), type_code(qtype)))
    edns = (args.edns, args.do) if args.edns else None
    if args.ready_file:
        write_ready(args.ready_file, {"pid": os.getpid()})
    if args.gate:
        while not os.path.exists(args.gate):
            time.sleep(0.01)
    results = []

    # the queries, on this thread or (--thread NAME) on a second one with a name of its own
    def body():
        fam = family(args.server)
        server = (args.server, args.port)
        process_comm = comm()
        if args.thread:
            set_comm(args.thread)  # this thread's own name, not the process's
        tid = threading.get_native_id()
        base = {"pid": os.getpid(), "tid": tid, "comm": comm(), "uid": os.getuid(),
                "proto": args.proto, "server": args.server, "server_port": args.port}
        if args.thread:
            base["process_comm"] = process_comm

        def record(sock, qid, labels, qtype, sends, t0, resp):
            local = sock.getsockname()
            out = dict(base, client=local[0], client_port=local[1], id=qid,
                       qname=presentation(labels), qtype=type_name(qtype), sends=sends,
                       retransmits=sends - 1 if args.mode == "retransmit" else 0)
            if resp is None:
                out.update(rcode=None, answers=None, latency_us=None)
            else:
                p = parse_response(resp[1])
                out.update(rcode=p["rcode"], answers=p["answers"], flags=p["flags"],
                           authority=p["authority"], additional=p["additional"],
                           latency_us=int((resp[0] - t0) * 1e6))
            results.append(out)

        def new_id():
            return random.randrange(1, 65536)

        if args.proto == "udp":
            for labels, qtype in queries:
                s = socket.socket(fam, socket.SOCK_DGRAM)
                if args.bind:
                    s.bind((args.bind, 0))
                s.connect(server)
                qid = new_id()
                msg = build_query(qid, labels, qtype, edns=edns)
                t0 = time.monotonic()
                s.send(msg)
                sends = 1
                deadline = t0 + args.timeout
                resp = None
                while True:
                    wait = deadline - time.monotonic()
                    if args.mode == "retransmit" and sends == 1:
                        wait = min(wait, t0 + args.retransmit_after / 1000.0 - time.monotonic())
                    s.settimeout(max(wait, 0.001))
                    try:
                        data = s.recv(65535)
                        resp = (time.monotonic(), data)
                        break
                    except socket.timeout:
                        if args.mode == "retransmit" and sends == 1:
                            s.send(msg)  # the same id and question again
                            sends = 2
                            continue
                        if time.monotonic() >= deadline:
                            break
                record(s, qid, labels, qtype, sends, t0, resp)
                if args.mode == "retransmit" and resp is not None:
                    # the answers that still come for the copies sent
                    extra = 0
                    s.settimeout(args.retransmit_wait / 1000.0)
                    try:
                        while s.recv(65535):
                            extra += 1
                    except socket.timeout:
                        pass
                    results[-1]["extra_responses"] = extra
                if args.linger:
                    time.sleep(args.linger / 1000.0)
                s.close()
                if args.pause:
                    time.sleep(args.pause / 1000.0)
        else:
            s = socket.socket(fam, socket.SOCK_STREAM)
            if args.bind:
                s.bind((args.bind, 0))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.settimeout(args.timeout)
            s.connect(server)
            msgs = []
            for labels, qtype in queries:
                qid = new_id()
                while any(m[0] == qid for m in msgs):
                    qid = new_id()
                m = build_query(qid, labels, qtype, edns=edns)
                msgs.append((qid, labels, qtype, struct.pack("!H", len(m)) + m))

            def read_one():
                n = struct.unpack("!H", recv_exact(s, 2))[0]
                return time.monotonic(), recv_exact(s, n)

            if args.mode == "pipeline":
                # all queries in one send(): several messages in one segment
                t0 = time.monotonic()
                s.sendall(b"".join(m[3] for m in msgs))
                got = {}
                try:
                    for _ in msgs:
                        t, data = read_one()
                        got[struct.unpack("!H", data[:2])[0]] = (t, data)
                except (socket.timeout, ConnectionError):
                    pass
                for qid, labels, qtype, _ in msgs:
                    record(s, qid, labels, qtype, 1, t0, got.get(qid))
            else:
                for qid, labels, qtype, wire in msgs:
                    t0 = time.monotonic()
                    if args.mode == "split":
                        # one message in two sends with a pause: split across segments,
                        # inside the DNS header (after the length and 3 bytes)
                        s.sendall(wire[:5])
                        time.sleep(args.split_pause / 1000.0)
                        s.sendall(wire[5:])
                    else:
                        s.sendall(wire)
                    try:
                        resp = read_one()
                    except (socket.timeout, ConnectionError):
                        resp = None
                    record(s, qid, labels, qtype, 2 if args.mode == "split" else 1, t0, resp)
                    if args.pause:
                        time.sleep(args.pause / 1000.0)
            if args.linger:
                time.sleep(args.linger / 1000.0)
            s.close()

    if args.thread:
        t = threading.Thread(target=body)
        t.start()
        t.join()
    else:
        body()
    for r in results:
        emit(r)
    return 0 if all(r["rcode"] is not None for r in results) or args.allow_timeouts else 1


def dot_client(args):
    """One TCP connection to a DoT port: a few bytes that look like a TLS record, then close."""
    arm_timeout(args.timeout)
    set_comm(args.comm)
    host, port = split_hostport(args.to)
    s = socket.socket(family(host), socket.SOCK_STREAM)
    s.settimeout(args.timeout)
    s.connect((host, port))
    s.sendall(bytes.fromhex("160301002f0100002b0303") + os.urandom(32) + b"\0" * 4)
    local = s.getsockname()
    if args.linger:
        time.sleep(args.linger / 1000.0)
    s.close()
    emit({"pid": os.getpid(), "tid": threading.get_native_id(), "comm": comm(),
          "client": local[0], "client_port": local[1], "server": host, "server_port": port})


# ---------------------------------------------------------------- hostile

def hostile_payloads(name_labels):
    """(kind, payload): each one a DNS message a parser must refuse."""
    q = encode_name(name_labels)
    hdr = lambda qid, flags, qd, an, ns, ar: struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)
    loop = hdr(0x1111, 0x8180, 1, 0, 0, 0) + b"\xc0\x0c" + struct.pack("!HH", 1, 1)
    long_name = b"".join(b"\x3f" + b"a" * 63 for _ in range(5)) + b"\0"
    return [
        ("short_header", b"\x12\x34\x81"),
        ("empty", b""),
        ("pointer_loop_question", loop),
        ("counts_past_end", hdr(0x2222, 0x8180, 1, 40, 0, 0) + q + struct.pack("!HH", 1, 1)),
        ("bad_label_type", hdr(0x3333, 0x8180, 1, 0, 0, 0) + b"\x40abc\0" + struct.pack("!HH", 1, 1)),
        ("name_too_long", hdr(0x4444, 0x0100, 1, 0, 0, 0) + long_name + struct.pack("!HH", 1, 1)),
        ("rdata_past_end", hdr(0x5555, 0x8180, 1, 1, 0, 0) + q + struct.pack("!HH", 1, 1)
         + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 200) + b"\x0a\0\0\1"),
        ("forward_pointer", hdr(0x6666, 0x0100, 1, 0, 0, 0) + b"\xc0\x20" + struct.pack("!HH", 1, 1)
         + b"\0" * 20),
        ("truncated_question", hdr(0x7777, 0x0100, 1, 0, 0, 0) + q + b"\x00"),
        ("random_bytes", bytes(random.Random(5).randrange(256) for _ in range(300))),
    ]


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def hostile(args):
    """Malformed DNS messages in UDP datagrams built by hand and sent with a raw socket (the
    UDP header too, so no socket of ours is bound to the source port), to --to; with --tcp,
    the same messages with their length prefix over one TCP connection each."""
    arm_timeout(args.timeout)
    set_comm(args.comm)
    dst, dport = split_hostport(args.to)
    src, sport = split_hostport(args.from_)
    fam = family(dst)
    payloads = hostile_payloads(labels_from_presentation(args.name))
    # The kernel writes the IP header, from the address the raw socket is bound to.
    raw = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_UDP)
    raw.bind((src, 0))
    sent = []
    if args.unsolicited:
        # well-formed responses that answer no query: unmatched, not malformed
        payloads = [("unsolicited", build_query(0xBEE0 + i, labels_from_presentation(args.name), 1))
                    for i in range(args.unsolicited)]
        payloads = [(k, p[:2] + b"\x81\x80" + p[4:6] + b"\0\1" + p[8:]
                     + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([10, 99, 9, 9]))
                    for k, p in payloads]
    for kind, p in payloads:
        length = 8 + len(p)
        if fam == socket.AF_INET:
            pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, length)
        else:
            pseudo = (socket.inet_pton(fam, src) + socket.inet_pton(fam, dst)
                      + struct.pack("!IxxxB", length, 17))
        csum = checksum(pseudo + struct.pack("!HHHH", sport, dport, length, 0) + p) or 0xFFFF
        udp = struct.pack("!HHHH", sport, dport, length, csum) + p
        raw.sendto(udp, (dst, 0))
        sent.append({"kind": kind, "proto": "udp", "length": len(p)})
        time.sleep(0.005)
    if args.tcp and not args.unsolicited:
        th, tp = split_hostport(args.tcp)
        for kind, p in payloads:
            if not p:
                continue  # a zero length prefix is no message at all
            c = socket.socket(family(th), socket.SOCK_STREAM)
            c.settimeout(2)
            c.connect((th, tp))
            c.sendall(struct.pack("!H", len(p)) + p)
            local = c.getsockname()
            try:
                c.shutdown(socket.SHUT_WR)
                while c.recv(4096):
                    pass
            except OSError:
                pass
            c.close()
            sent.append({"kind": kind, "proto": "tcp", "length": len(p), "client_port": local[1]})
    emit({"pid": os.getpid(), "comm": comm(), "sent": sent})


# ---------------------------------------------------------------- check

def log_queries(path):
    """dnsmasq --log-queries=extra lines: "N ADDR/PORT query[TYPE] NAME from ADDR"."""
    import re
    pat = re.compile(r" \d+ (\S+)/(\d+) query\[(\S+)\] (\S+) from ")
    out = []
    with open(path, errors="surrogateescape") as f:
        for line in f:
            m = pat.search(line)
            if m:
                out.append({"client": m.group(1), "client_port": int(m.group(2)),
                            "qtype": m.group(3), "qname": m.group(4)})
    return out


def answers_key(answers):
    return sorted(json.dumps(a, sort_keys=True) for a in (answers or []))


def check(args):
    """Each query of the ground truth against dnssnoop's JSON lines: exactly one transaction
    (answer, or timeout where the client got none) with the same client port, id and name,
    and the right pid, comm, qtype, rcode, answers.  Prints ok/WRONG per query."""
    import re
    seen = []
    with open(args.seen, errors="surrogateescape") as f:
        for line in f:
            try:
                seen.append(json.loads(line))
            except ValueError:
                print(f"WRONG not a JSON line: {line!r}")
                return 1
    zone_truth = {}
    if args.zone:
        with open(args.zone) as f:
            zone_truth = json.load(f)
    truth = []
    for path in args.queries:
        with open(path) as f:
            truth += [json.loads(x) for x in f if x.strip()]
    for path in args.log:
        for q in log_queries(path):
            q.update(pid=args.pid, proto=args.proto, server=args.server, server_port=53,
                     id=None, rcode="?", answers=None, latency_us=None, retransmits=0)
            truth.append(q)
    txn = [e for e in seen if e.get("event") in ("answer", "timeout")]
    bad = 0
    used = set()
    for q in truth:
        def same(e):
            return (e.get("client_port") == q["client_port"] and e.get("qname") == q["qname"]
                    and e.get("server") == q["server"] and e.get("proto") == q["proto"]
                    and (q["id"] is None or e.get("id") == q["id"])
                    and (q["id"] is not None or e.get("qtype") == q["qtype"]))
        hits = [i for i, e in enumerate(txn) if same(e)]
        what = f"{q['proto']} {q['qname']} {q['qtype']} port {q['client_port']} pid {q['pid']}"
        if len(hits) != 1:
            print(f"WRONG {what}: {len(hits)} transactions")
            bad += 1
            continue
        used.add(hits[0])
        e = txn[hits[0]]
        errs = []
        want_event = "timeout" if q["rcode"] is None else "answer"
        if e["event"] != want_event:
            errs.append(f"event {e['event']} (want {want_event})")
        # --any-owner: the process may be unknown (pid null); a pid shown must be right
        unknown = args.any_owner and e.get("pid") is None
        if unknown:
            pass
        elif q["pid"] is not None and e.get("pid") != q["pid"]:
            errs.append(f"pid {e.get('pid')} (want {q['pid']})")
        if unknown:
            pass
        elif args.comm_re:
            if not re.fullmatch(args.comm_re, str(e.get("comm"))):
                errs.append(f"comm {e.get('comm')!r} (want /{args.comm_re}/)")
        elif "comm" in q and e.get("comm") != q.get("process_comm", q["comm"]):
            # the process's name (its main thread's), not the sending thread's
            errs.append(f"comm {e.get('comm')!r} (want {q.get('process_comm', q['comm'])!r})")
        if "uid" in q and not unknown and e.get("uid") != q["uid"]:
            errs.append(f"uid {e.get('uid')} (want {q['uid']})")
        if args.mode and e.get("mode") != args.mode:
            errs.append(f"mode {e.get('mode')} (want {args.mode})")
        if "tid" in q and args.check_tid and e.get("tid") != q["tid"]:
            errs.append(f"tid {e.get('tid')} (want {q['tid']})")
        for k in ("qtype", "server_port", "client"):
            if k in q and e.get(k) != q[k]:
                errs.append(f"{k} {e.get(k)!r} (want {q[k]!r})")
        if e.get("schema") != "dnssnoop/1":
            errs.append(f"schema {e.get('schema')!r}")
        want_rtx = q.get("retransmits", 0)
        if e.get("retransmits") != want_rtx:
            errs.append(f"retransmits {e.get('retransmits')} (want {want_rtx})")
        z = zone_truth.get(f"{q['qname']} {q['qtype']}")
        if want_event == "answer":
            rcode, answers = q["rcode"], q["answers"]
            if rcode == "?":  # from the server's log: the zone says
                rcode, answers = (z["rcode"], z["answers"]) if z else (None, None)
            if rcode is not None and e.get("rcode") != rcode:
                errs.append(f"rcode {e.get('rcode')} (want {rcode})")
            if answers is not None and answers_key(e.get("answers")) != answers_key(answers):
                errs.append(f"answers {e.get('answers')} (want {answers})")
            truncated = q.get("flags", {}).get("tc")  # the resolver sent only part
            if (z and q["answers"] is not None and not truncated
                    and answers_key(q["answers"]) != answers_key(z["answers"])):
                errs.append(f"the resolver answered {q['answers']}, the zone says {z['answers']}")
            lat = e.get("latency_us")
            if not isinstance(lat, int) or lat <= 0:
                errs.append(f"latency_us {lat}")
            elif q["latency_us"] is not None and lat > q["latency_us"] + args.latency_slack_us:
                errs.append(f"latency_us {lat} > the client's {q['latency_us']}")
            for k in ("flags", "authority", "additional"):  # additional: the OPT record too
                if k in q and e.get(k) != q[k]:
                    errs.append(f"{k} {e.get(k)} (want {q[k]})")
        else:
            t = e.get("timeout_us")
            if not isinstance(t, int) or t < args.timeout_us or t > args.timeout_us + 2_000_000:
                errs.append(f"timeout_us {t} (want >= {args.timeout_us})")
        if errs:
            print(f"WRONG {what}: " + "; ".join(errs))
            bad += 1
        else:
            print(f"ok {what}: {e['event']} {e.get('rcode', '')} {e.get('latency_us', '')}")
    if args.exclusive:
        pids = {q["pid"] for q in truth}
        for i, e in enumerate(txn):
            if i not in used and e.get("pid") in pids:
                print(f"WRONG extra transaction: {json.dumps(e)}")
                bad += 1
    if not truth:
        print("WRONG no ground truth")
        bad += 1
    return 1 if bad else 0


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(prog="dnsrig", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    z = sub.add_parser("zone")
    z.add_argument("--conf", required=True)
    z.add_argument("--truth", required=True)
    z.add_argument("--domain", default="bpfkit.test")
    z.add_argument("--ttl", type=int, default=300)

    u = sub.add_parser("upstream")
    u.add_argument("--listen", action="append", required=True)
    u.add_argument("--drop", action="append", default=[])
    u.add_argument("--servfail", action="append", default=[])
    u.add_argument("--delay", action="append", default=[], help="SUFFIX=MS")
    u.add_argument("--ready-file")
    u.add_argument("--timeout", type=float, default=120)

    s = sub.add_parser("sink")
    s.add_argument("--udp", action="append", default=[])
    s.add_argument("--tcp", action="append", default=[])
    s.add_argument("--comm")
    s.add_argument("--ready-file")
    s.add_argument("--timeout", type=float, default=120)

    c = sub.add_parser("client")
    c.add_argument("--server", required=True)
    c.add_argument("--port", type=int, default=53)
    c.add_argument("--bind")
    c.add_argument("--proto", choices=["udp", "tcp"], default="udp")
    c.add_argument("--mode", choices=["each", "pipeline", "split", "retransmit"], default="each")
    c.add_argument("--retransmit-after", type=float, default=60, help="ms")
    c.add_argument("--retransmit-wait", type=float, default=400,
                   help="ms to wait for more answers after the first")
    c.add_argument("--split-pause", type=float, default=100, help="ms")
    c.add_argument("--pause", type=float, default=0, help="ms between queries")
    c.add_argument("--linger", type=float, default=0, help="ms to keep each socket open after")
    c.add_argument("--edns", type=int, default=0, help="EDNS UDP size (0: no EDNS)")
    c.add_argument("--do", action="store_true")
    c.add_argument("--comm")
    c.add_argument("--thread", help="send from a second thread with this name")
    c.add_argument("--timeout", type=float, default=2, help="per query, seconds")
    c.add_argument("--deadline", type=float, default=60)
    c.add_argument("--allow-timeouts", action="store_true")
    c.add_argument("--ready-file")
    c.add_argument("--gate", help="wait for this file to exist before querying")
    c.add_argument("query", nargs="+", help="NAME/TYPE")

    d = sub.add_parser("dot-client")
    d.add_argument("--to", required=True)
    d.add_argument("--comm")
    d.add_argument("--linger", type=float, default=0)
    d.add_argument("--timeout", type=float, default=10)

    h = sub.add_parser("hostile")
    h.add_argument("--to", required=True)
    h.add_argument("--from", dest="from_", required=True)
    h.add_argument("--tcp")
    h.add_argument("--name", default="hostile.bpfkit.test")
    h.add_argument("--unsolicited", type=int, default=0,
                   help="send this many well-formed responses nobody asked for instead")
    h.add_argument("--comm")
    h.add_argument("--timeout", type=float, default=30)

    k = sub.add_parser("check")
    k.add_argument("--seen", required=True, help="dnssnoop --json output")
    k.add_argument("--queries", action="append", default=[], help="client output (JSON lines)")
    k.add_argument("--log", action="append", default=[], help="dnsmasq --log-queries=extra lines")
    k.add_argument("--pid", type=int, help="with --log: the pid that sent those queries")
    k.add_argument("--proto", default="udp", help="with --log")
    k.add_argument("--server", help="with --log: the resolver's address")
    k.add_argument("--comm-re", help="comm must match this (else the client's own comm)")
    k.add_argument("--check-tid", action="store_true")
    k.add_argument("--any-owner", action="store_true",
                   help="the process may be unknown (pid null: gone before it could be seen)")
    k.add_argument("--mode", help="the mode every record must name")
    k.add_argument("--zone", help="zone truth from `zone --truth`")
    k.add_argument("--exclusive", action="store_true",
                   help="no other transaction from the pids of the truth")
    k.add_argument("--latency-slack-us", type=int, default=5000)
    k.add_argument("--timeout-us", type=int, default=0, help="least timeout_us of a timeout")

    args = ap.parse_args()
    fn = {"zone": zone, "upstream": upstream, "sink": sink, "client": client,
          "dot-client": dot_client, "hostile": hostile, "check": check}[args.cmd]
    sys.exit(fn(args) or 0)


if __name__ == "__main__":
    main()
