"""PING timing of python-fido2 2.2.1 over UDP, to compare with `ctap ping` against the
same `ctap serve --udp` server (see benches/RESULTS.md, "PING over UDP").

Usage: python python_fido2_ping.py HOST:PORT [--count N] [--sizes 57,1024,7609]

Prints one line per size: the median and minimum round trip of N pings, in ms, the
same statistics `ctap ping --json` reports. The UDP connection is the one the interop
test uses (crates/ctap-virtual/interop/test_python_fido2.py): one report per
datagram, a connected socket.
"""

from __future__ import annotations

import argparse
import socket
import time

from fido2.hid import CtapHidDevice
from fido2.hid.base import CtapHidConnection, HidDescriptor

REPORT_SIZE = 64


class UdpCtapHidConnection(CtapHidConnection):
    def __init__(self, host: str, port: int):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect((host, port))
        self.sock.settimeout(10.0)

    def read_packet(self) -> bytes:
        return self.sock.recv(REPORT_SIZE)

    def write_packet(self, data: bytes) -> None:
        self.sock.send(data)

    def close(self) -> None:
        self.sock.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("address")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--sizes", default="57,1024,7609")
    args = parser.parse_args()
    host, port = args.address.rsplit(":", 1)
    descriptor = HidDescriptor(
        f"udp:{args.address}", 0, 0, REPORT_SIZE, REPORT_SIZE, "ctap-virtual", None
    )
    device = CtapHidDevice(descriptor, UdpCtapHidConnection(host, int(port)))
    for size in (int(s) for s in args.sizes.split(",")):
        payload = bytes(i % 251 for i in range(size))
        rtts = []
        for _ in range(args.count):
            start = time.perf_counter()
            echo = device.ping(payload)
            rtts.append(time.perf_counter() - start)
            assert echo == payload
        rtts.sort()
        print(
            f"python-fido2 size {size} count {args.count}: "
            f"median {rtts[len(rtts) // 2] * 1e3:.3f} ms, min {rtts[0] * 1e3:.3f} ms"
        )


if __name__ == "__main__":
    main()
