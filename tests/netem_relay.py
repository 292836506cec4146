#!/usr/bin/env python3
"""Userspace stand-in for `tc netem` on kernels without sch_netem.

Relays Ethernet frames between two interfaces (both directions) through
AF_PACKET sockets, each frame DELAY_MS later, dropping LOSS_PERCENT of them at
random. The namespace harness (tests/src/netns.rs) runs it inside its own
switch namespace between the endpoint's link and the bridge, with checksum
and segmentation offloads switched off so every frame is complete and fits
the MTU. Prints "ready" once both sockets are bound.

Usage: netem_relay.py IFACE_A IFACE_B DELAY_MS LOSS_PERCENT
"""
import heapq
import random
import select
import socket
import sys
import time

ETH_P_ALL = 3


def open_iface(name):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((name, 0))
    s.setblocking(False)
    return s


def main():
    a, b = sys.argv[1], sys.argv[2]
    delay = float(sys.argv[3]) / 1000.0
    loss = float(sys.argv[4])
    sa, sb = open_iface(a), open_iface(b)
    peer = {sa: sb, sb: sa}
    queue = []  # (due, seq, out socket, frame): a heap ordered by due time
    seq = 0
    print("ready", flush=True)
    while True:
        timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else 1.0
        readable, _, _ = select.select([sa, sb], [], [], timeout)
        for s in readable:
            while True:
                try:
                    frame, addr = s.recvfrom(65535)
                except BlockingIOError:
                    break
                # Our own transmissions show up as outgoing: never relay them back.
                if addr[2] == socket.PACKET_OUTGOING or random.random() * 100 < loss:
                    continue
                seq += 1
                heapq.heappush(queue, (time.monotonic() + delay, seq, peer[s], frame))
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, out, frame = heapq.heappop(queue)
            try:
                out.send(frame)
            except OSError as e:
                print(f"netem_relay: cannot send a {len(frame)}-byte frame: {e}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
