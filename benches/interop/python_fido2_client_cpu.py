"""Client CPU per CTAP2 operation of python-fido2 2.2.1 (`fido2.ctap2.Ctap2` and
`ClientPin`) over UDP, against a `ctap serve --udp` authenticator.

Usage: python python_fido2_client_cpu.py HOST:PORT --count N --pin PIN

The serve_scale benchmark (benches/src/bin/serve_scale.rs) runs it beside the same
operations of our ctap2-client, against the same server, in one run; see
benches/RESULTS.md ("CTAP2 over UDP").

Three loops of N operations each, after one untimed operation of each kind (imports,
channel allocation and getInfo stay out of the figures):
- make_credential: ES256, not discoverable, no extensions, no PIN/UV auth;
- get_assertion: the credential of the first loop in the allow list;
- pin_token: ClientPin(ctap).get_pin_token(pin, GET_ASSERTION, rp id): getKeyAgreement,
  the ECDH of the PIN protocol, the encrypted PIN hash, the token decrypted.

For each loop it prints `<name> <cpu us/op> <wall us/op>`: the CPU time (user + system,
`resource.getrusage(RUSAGE_SELF)`) of this process only, so the authenticator's CPU
(another process) is not counted; then `pin_protocol <n>`.
"""

from __future__ import annotations

import argparse
import resource
import socket
import time

from fido2.ctap2 import ClientPin, Ctap2
from fido2.hid import CtapHidDevice
from fido2.hid.base import CtapHidConnection, HidDescriptor

REPORT_SIZE = 64
RP = {"id": "example.com", "name": "Example"}
USER = {"id": b"user-1", "name": "alice"}
ES256 = [{"type": "public-key", "alg": -7}]


class UdpCtapHidConnection(CtapHidConnection):
    """One report per datagram on a connected socket, as the interop test does."""

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


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(name: str, count: int, operation) -> None:
    operation(0)
    cpu, wall = cpu_seconds(), time.perf_counter()
    for index in range(count):
        operation(index)
    cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
    print(f"{name} {cpu / count * 1e6:.1f} {wall / count * 1e6:.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("address")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--pin", required=True)
    args = parser.parse_args()
    host, port = args.address.rsplit(":", 1)
    descriptor = HidDescriptor(
        f"udp:{args.address}", 0, 0, REPORT_SIZE, REPORT_SIZE, "ctap-virtual", None
    )
    device = CtapHidDevice(descriptor, UdpCtapHidConnection(host, int(port)))
    ctap = Ctap2(device)
    hash_ = bytes(32)

    credentials: list[bytes] = []

    def make_credential(_index: int) -> None:
        response = ctap.make_credential(hash_, RP, USER, ES256)
        credentials.append(response.auth_data.credential_data.credential_id)

    measure("make_credential", args.count, make_credential)
    allow = [{"type": "public-key", "id": credentials[0]}]

    def get_assertion(_index: int) -> None:
        ctap.get_assertion(RP["id"], hash_, allow)

    measure("get_assertion", args.count, get_assertion)

    client_pin = ClientPin(ctap)

    def pin_token(_index: int) -> None:
        client_pin.get_pin_token(
            args.pin, ClientPin.PERMISSION.GET_ASSERTION, RP["id"]
        )

    measure("pin_token", args.count, pin_token)
    print(f"pin_protocol {client_pin.protocol.VERSION}", flush=True)
    device.close()


if __name__ == "__main__":
    main()
