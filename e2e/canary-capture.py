#!/usr/bin/env python3
"""Packet capture for e2e/canary.spec.ts: every frame on every interface of the current network
namespace (lo, veth0, veth1), written raw to a file, with no tcpdump.

    python3 e2e/canary-capture.py OUT_FILE

Needs CAP_NET_RAW (root, or root in the user namespace e2e/netns.sh makes). Prints `capturing`
once the socket is open (anything sent after that line is captured), and on SIGTERM or SIGINT
reads what the kernel has queued already, then prints `captured <frames> frames <bytes> bytes`
and exits 0. The file is the frames one after another, each behind a 4-byte big-endian length.
"""
import select
import signal
import socket
import struct
import sys

ETH_P_ALL = 0x0003

stopping = False


def stop(_signum, _frame):
    global stopping
    stopping = True


def main():
    if len(sys.argv) != 2:
        print('usage: canary-capture.py OUT_FILE', file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # unbound: frames of every interface in this namespace, both directions
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    frames = 0
    total = 0
    with open(sys.argv[1], 'wb') as out:
        print('capturing', flush=True)
        while not stopping:
            try:
                ready, _, _ = select.select([sock], [], [], 0.2)
            except InterruptedError:
                continue
            if not ready:
                continue
            data = sock.recv(262144)
            out.write(struct.pack('>I', len(data)) + data)
            frames += 1
            total += len(data)
        # what was sent before the signal is already queued on the socket: take it all
        sock.setblocking(False)
        while True:
            try:
                data = sock.recv(262144)
            except BlockingIOError:
                break
            out.write(struct.pack('>I', len(data)) + data)
            frames += 1
            total += len(data)
    print('captured %d frames %d bytes' % (frames, total), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
