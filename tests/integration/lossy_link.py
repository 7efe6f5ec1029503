#!/usr/bin/env python3
"""A lossy, slow link between two network namespaces, for hosts whose kernel
has no netem qdisc: one TUN device in each namespace, and this process
between them, forwarding every IP packet after a delay and dropping a share
of them at random (independently in each direction).

  lossy_link.py --here IFNAME --there-ns NS --there IFNAME
                --delay-ms 40 --loss 0.05 --seed 1 [--ready FILE]

Creates IFNAME (TUN, no packet info) in our namespace and the other one in
network namespace NS (/var/run/netns/NS); the caller gives them addresses
and routes once --ready FILE exists. Runs until killed; prints its counts
(JSON) on SIGTERM."""
import argparse
import ctypes
import fcntl
import heapq
import json
import os
import random
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--here", required=True)
    p.add_argument("--there-ns", required=True)
    p.add_argument("--there", required=True)
    p.add_argument("--delay-ms", type=float, default=40)
    p.add_argument("--loss", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--ready")
    a = p.parse_args()
    libc = ctypes.CDLL(None, use_errno=True)
    here = open_tun(a.here)
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    other = os.open("/var/run/netns/" + a.there_ns, os.O_RDONLY)
    if libc.setns(other, CLONE_NEWNET) != 0:
        sys.exit("setns: " + os.strerror(ctypes.get_errno()))
    there = open_tun(a.there)
    libc.setns(own, CLONE_NEWNET)
    rnd = random.Random(a.seed)
    peer = {here: there, there: here}
    counts = {"forwarded": 0, "dropped": 0}
    queue = []  # (due, seq, fd, packet)
    seq = 0
    done = False

    def stop(*_):
        nonlocal done
        done = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("ready\n")
    while not done:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, fd, pkt = heapq.heappop(queue)
            try:
                os.write(fd, pkt)
                counts["forwarded"] += 1
            except OSError:
                pass
        timeout = max(0.0, queue[0][0] - now) if queue else 0.1
        try:
            r, _, _ = select.select([here, there], [], [], min(timeout, 0.1))
        except InterruptedError:
            continue
        for fd in r:
            try:
                pkt = os.read(fd, 65536)
            except OSError:
                continue
            if rnd.random() < a.loss:
                counts["dropped"] += 1
                continue
            seq += 1
            heapq.heappush(queue, (time.monotonic() + a.delay_ms / 1000.0, seq, peer[fd], pkt))
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
