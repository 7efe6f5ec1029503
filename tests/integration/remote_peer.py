#!/usr/bin/env python3
"""A remote delegate written independently of dragoman's C code, for the
integration tests: it speaks the hello protocol of include/dragoman/rproto.h
from its own implementation (HKDF and HMAC from Python's standard library), so
a test also checks that the wire format is what the header says.

  remote_peer.py listen  --api URL --token-file F [--cacert F] [--channel ID]
                         --seconds N --report FILE
                         [--forward-when FILE --forward-to HOST:PORT]
      A legitimate delegate: creates a session, sends a hello every second,
      counts what arrives (RTP per SSRC, key updates). Once FILE exists it
      also forwards every datagram it receives to HOST:PORT (an accomplice
      handing a revoked delegate the traffic of a valid one).

  remote_peer.py once    --api URL --token-file F [--cacert F] [--channel ID]
                         --seconds N --report FILE
      Sends one hello, then none: reports when the first and the last
      datagram arrived, in seconds after that hello (the engine must stop
      sending DM_REMOTE_TIMEOUT_S = 15 s after it).

  remote_peer.py attack  --api URL --token-file F [--cacert F] --seconds N --report FILE
      Opens a valid session of its own (that socket stays silent: never
      bound), then from separate sockets sends: forged hellos (random
      session ids and tags), hellos for its session under a wrong key,
      its own valid hello replayed from another address, hellos for another
      session id with its own key, a flood of 2,000 hellos in one second
      (its session's id, random tags),
      and a valid hello from a socket that never answers the engine's
      challenge (a forged source address). Reports what each attacking
      socket received: nothing, and for the last one a single 36-byte
      challenge, never media.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import select
import socket
import ssl
import struct
import sys
import time
import urllib.parse
import urllib.request


def hkdf(ikm, info, length=32):
    prk = hmac.new(b"\0" * 32, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


def hello(sid, key, counter, generation=1):
    body = b"DMH1" + sid + struct.pack(">QI", counter, generation) + b"\0" * 24
    return body + hmac.new(key, body, hashlib.sha256).digest()[:16]


def answer(sock, d, sid, key, dest):
    """Answers the engine's challenge to a new address (DMC1 -> DMR1);
    returns whether d was one."""
    if d[:4] != b"DMC1" or len(d) != 36:
        return False
    if d[4:20] == sid:
        body = b"DMR1" + sid + d[20:36]
        sock.sendto(body + hmac.new(key, body, hashlib.sha256).digest()[:16], dest)
    return True


def api_session(args, channel=None):
    url = args.api.rstrip("/") + "/api/v1/remote/sessions"
    token = open(args.token_file).read().split()[0]
    body = json.dumps({"channel": channel} if channel else {}).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Authorization": "Bearer " + token, "Content-Type": "application/json"})
    ctx = ssl.create_default_context(cafile=args.cacert) if args.cacert else None
    with urllib.request.urlopen(req, timeout=5, context=ctx) as r:
        return json.load(r)


def session_keys(s):
    sid = bytes.fromhex(s["session"])
    skey = base64.b64decode(s["key"])
    return sid, hkdf(skey, b"dragoman hello v1")


def kind(d):
    if d[:4] == b"DMK1":
        return "keys"
    if d[:4] == b"DMC1":
        return "challenge"
    if len(d) >= 8 and d[0] >> 6 == 2:
        return "rtcp" if 200 <= d[1] <= 204 else "rtp"
    return "other"


def engine_addr(args, s):
    host = urllib.parse.urlparse(args.api).hostname
    return (host, int(s["udp_port"]))


def listen(args):
    s = api_session(args, args.channel)
    sid, hkey = session_keys(s)
    dest = engine_addr(args, s)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", 0))
    fwd = None
    if args.forward_to:
        h, p = args.forward_to.rsplit(":", 1)
        fwd = (h, int(p))
    counter = 0
    rep = {"session": s["session"], "datagrams": 0, "rtp": 0, "rtcp": 0, "keys": 0,
           "challenge": 0, "other": 0, "ssrcs": {}, "forwarded": 0,
           "port": sock.getsockname()[1]}
    end = time.monotonic() + args.seconds
    next_hello = 0.0
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_hello:
            counter += 1
            sock.sendto(hello(sid, hkey, counter), dest)
            next_hello = now + 1.0
        r, _, _ = select.select([sock], [], [], 0.05)
        if not r:
            continue
        d, _ = sock.recvfrom(2048)
        answer(sock, d, sid, hkey, dest)
        k = kind(d)
        rep["datagrams"] += 1
        rep[k] += 1
        if k == "rtp":
            ssrc = str(struct.unpack(">I", d[8:12])[0])
            rep["ssrcs"][ssrc] = rep["ssrcs"].get(ssrc, 0) + 1
        if fwd and os.path.exists(args.forward_when):
            sock.sendto(d, fwd)
            rep["forwarded"] += 1
    with open(args.report, "w") as f:
        json.dump(rep, f)


def once(args):
    s = api_session(args, args.channel)
    sid, hkey = session_keys(s)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", 0))
    t0 = time.monotonic()
    dest = engine_addr(args, s)
    sock.sendto(hello(sid, hkey, 1), dest)
    first = last = None
    n = 0
    while time.monotonic() < t0 + args.seconds:
        r, _, _ = select.select([sock], [], [], 0.1)
        if not r:
            continue
        d, _ = sock.recvfrom(2048)
        if answer(sock, d, sid, hkey, dest) or kind(d) != "rtp":
            continue
        now = time.monotonic() - t0
        first = now if first is None else first
        last = now
        n += 1
    with open(args.report, "w") as f:
        json.dump({"rtp": n, "first_s": first, "last_s": last}, f)


def drain(socks, seconds):
    got = {name: 0 for name in socks}
    kinds = {name: {} for name in socks}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        r, _, _ = select.select(list(socks.values()), [], [], 0.05)
        for s in r:
            d, _ = s.recvfrom(2048)
            for name, x in socks.items():
                if x is s:
                    got[name] += 1
                    kinds[name][kind(d)] = kinds[name].get(kind(d), 0) + 1
    return got, kinds


def attack(args):
    s = api_session(args)
    sid, hkey = session_keys(s)
    other = api_session(args)  # a second session of ours: "someone else's"
    osid, okey = session_keys(other)
    dest = engine_addr(args, s)
    names = ["forged", "wrong_key", "replay", "foreign", "flood", "mute"]
    socks = {}
    for n in names:
        socks[n] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        socks[n].bind(("0.0.0.0", 0))
    sent = {n: 0 for n in names}
    for _ in range(5):
        socks["forged"].sendto(b"DMH1" + os.urandom(68), dest)
        socks["forged"].sendto(b"DMH1" + sid + os.urandom(52), dest)
        sent["forged"] += 2
    for c in range(1, 6):
        socks["wrong_key"].sendto(hello(sid, os.urandom(32), c), dest)
        sent["wrong_key"] += 1
    # A valid hello, seen on the wire, sent again from another address: its
    # counter is not above the last accepted one (the first one, sent from a
    # socket we then never read, binds the session there).
    victim = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    victim.bind(("0.0.0.0", 0))
    captured = hello(osid, okey, 1)
    victim.sendto(captured, dest)
    # The victim is a real listener: it answers the engine's challenge.
    r, _, _ = select.select([victim], [], [], 1.0)
    if r:
        d, _ = victim.recvfrom(2048)
        answer(victim, d, osid, okey, dest)
    time.sleep(0.2)
    for _ in range(5):
        socks["replay"].sendto(captured, dest)
        sent["replay"] += 1
    # Our own key, the other session's id.
    for c in range(2, 7):
        socks["foreign"].sendto(hello(osid, hkey, c), dest)
        sent["foreign"] += 1
    # A valid hello from an address that never answers the challenge (what
    # a spoofed source looks like): the engine must not bind it. Counter
    # 1 of our own session (the session was never used).
    socks["mute"].sendto(hello(sid, hkey, 1), dest)
    sent["mute"] += 1
    t0 = time.monotonic()
    for i in range(2000):
        # our own session's id (a known one: an unknown id is dropped
        # before the rate is counted), random tags
        socks["flood"].sendto(b"DMH1" + sid + os.urandom(52), dest)
        sent["flood"] += 1
        if i % 100 == 99:
            time.sleep(max(0.0, t0 + (i + 1) / 2000.0 - time.monotonic()))
    got, kinds = drain(socks, args.seconds)
    victim_got = drain({"victim": victim}, 0.5)[0]["victim"]
    with open(args.report, "w") as f:
        json.dump({"sent": sent, "received": got, "kinds": kinds,
                   "victim_received": victim_got,
                   "received_total": sum(got.values())}, f)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["listen", "once", "attack"])
    p.add_argument("--api", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--cacert")
    p.add_argument("--channel")
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--report", required=True)
    p.add_argument("--forward-when")
    p.add_argument("--forward-to")
    args = p.parse_args()
    try:
        {"listen": listen, "once": once, "attack": attack}[args.mode](args)
    except urllib.error.HTTPError as e:
        print("remote_peer: HTTP %d: %s" % (e.code, e.read().decode(errors="replace")),
              file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
