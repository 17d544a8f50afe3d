#!/usr/bin/env python3
"""python-fido2 2.2.1 against the ctap-virtual UDP server.

A real client nobody here wrote drives the virtual authenticator through a small
CtapHidConnection over UDP (one report per datagram). Every result is asserted.

usage: test_python_fido2.py HOST:PORT [--touch-delay-ms N]

The server must approve touches after N ms (default 600), e.g.
`cargo run -p ctap-virtual --example serve_udp -- 127.0.0.1:0 --touch-delay-ms 600`.
Prints "N passed, M failed" last; exits non-zero on any failure.
"""

from __future__ import annotations

import importlib.metadata
import os
import socket
import sys
import threading
import time
import traceback

from fido2.ctap import STATUS, CtapError
from fido2.ctap1 import Ctap1
from fido2.ctap2 import Ctap2
from fido2.hid import CAPABILITY, CTAPHID, CtapHidDevice
from fido2.hid.base import CtapHidConnection, HidDescriptor
from fido2.webauthn import Aaguid

REPORT_SIZE = 64
# python-fido2 has no time-outs: a silent server would hang it forever. A socket
# time-out turns that into a failed test instead.
READ_TIMEOUT_S = 10.0
AAGUID = Aaguid(b"ctap-rs-virtual!")


class UdpCtapHidConnection(CtapHidConnection):
    """One CTAPHID report per UDP datagram, to and from the server's address."""

    def __init__(self, host: str, port: int):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect((host, port))
        self.sock.settimeout(READ_TIMEOUT_S)

    def read_packet(self) -> bytes:
        return self.sock.recv(REPORT_SIZE)

    def write_packet(self, data: bytes) -> None:
        if self.sock.send(data) != len(data):
            raise OSError("short UDP send")

    def close(self) -> None:
        self.sock.close()


def open_device(host: str, port: int) -> CtapHidDevice:
    descriptor = HidDescriptor(
        f"udp:{host}:{port}", 0, 0, REPORT_SIZE, REPORT_SIZE, "ctap-virtual", None
    )
    return CtapHidDevice(descriptor, UdpCtapHidConnection(host, port))


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    host, port = sys.argv[1].rsplit(":", 1)
    port = int(port)
    touch_delay = 0.6
    if "--touch-delay-ms" in sys.argv:
        touch_delay = int(sys.argv[sys.argv.index("--touch-delay-ms") + 1]) / 1000

    version = importlib.metadata.version("fido2")
    assert version == "2.2.1", f"python-fido2 {version}, expected 2.2.1"
    dev = open_device(host, port)
    tests = []

    def test(fn):
        tests.append(fn)
        return fn

    @test
    def init_allocates_a_channel_and_reports_capabilities():
        assert dev._channel_id not in (0, 0xFFFFFFFF), hex(dev._channel_id)
        assert dev.version == 2, dev.version
        assert dev.device_version == (0, 1, 0), dev.device_version
        caps = dev.capabilities
        assert caps & CAPABILITY.WINK, caps
        assert caps & CAPABILITY.LOCK, caps
        assert caps & CAPABILITY.CBOR, caps
        assert not caps & CAPABILITY.NMSG, caps

    @test
    def ping_echoes_0_1_57_58_1024_and_7609_bytes():
        for length in (0, 1, 57, 58, 1024, 7609):
            data = os.urandom(length)
            echo = dev.ping(data)
            assert echo == data, (length, len(echo))

    @test
    def wink_is_answered():
        assert dev.wink() is None
        assert dev.call(CTAPHID.WINK) == b""

    @test
    def get_info_reports_versions_aaguid_and_options():
        # Ctap2() itself calls getInfo, and python-fido2 checks the CBOR is canonical.
        info = Ctap2(dev).get_info()
        assert info.versions == ["FIDO_2_0", "FIDO_2_1", "U2F_V2"], info.versions
        assert info.aaguid == AAGUID, info.aaguid
        assert info.options == {"rk": False, "up": True, "plat": False}, info.options
        assert info.max_msg_size == 7609, info.max_msg_size
        assert info.transports == ["usb"], info.transports
        assert info.extensions == [], info.extensions

    @test
    def selection_reports_upneeded_until_the_touch():
        seen = []
        started = time.monotonic()
        result = Ctap2(dev).selection(on_keepalive=seen.append)
        elapsed = time.monotonic() - started
        assert result is None
        assert seen == [STATUS.UPNEEDED], seen
        assert elapsed >= touch_delay * 0.9, elapsed
        assert elapsed < touch_delay + 5, elapsed

    @test
    def selection_cancelled_by_event_ends_with_keepalive_cancel():
        ctap2 = Ctap2(dev)
        event = threading.Event()
        timer = threading.Timer(0.1, event.set)
        timer.start()
        started = time.monotonic()
        try:
            ctap2.selection(event=event)
        except CtapError as e:
            assert e.code == CtapError.ERR.KEEPALIVE_CANCEL, e
        else:
            raise AssertionError("selection was not cancelled")
        finally:
            timer.cancel()
        assert time.monotonic() - started < touch_delay, "cancelled before the touch"
        # The channel works afterwards (python-fido2 sends CANCEL before each read:
        # the extra ones are ignored by the device).
        assert dev.ping(b"after cancel") == b"after cancel"

    @test
    def ctap1_get_version_is_u2f_v2():
        assert Ctap1(dev).get_version() == "U2F_V2"

    @test
    def unknown_command_and_ctap2_errors_map_to_ctap_error():
        try:
            dev.call(0x22)
        except CtapError as e:
            assert e.code == CtapError.ERR.INVALID_COMMAND, e
        else:
            raise AssertionError("unknown CTAPHID command accepted")
        try:
            Ctap2(dev).send_cbor(0x42)
        except CtapError as e:
            assert e.code == CtapError.ERR.INVALID_COMMAND, e
        else:
            raise AssertionError("unknown CTAP2 command accepted")

    @test
    def lock_and_unlock():
        assert dev.call(CTAPHID.LOCK, b"\x05") == b""
        assert dev.ping(b"locked to me") == b"locked to me"
        assert dev.call(CTAPHID.LOCK, b"\x00") == b""
        try:
            dev.call(CTAPHID.LOCK, b"\x0b")
        except CtapError as e:
            assert e.code == CtapError.ERR.INVALID_PARAMETER, e
        else:
            raise AssertionError("an 11 s lock was accepted")

    @test
    def two_clients_each_get_their_own_answers():
        other = open_device(host, port)
        assert other._channel_id != dev._channel_id
        for i in range(10):
            a, b = os.urandom(100 + i), os.urandom(200 + i)
            assert dev.ping(a) == a
            assert other.ping(b) == b
        other.close()

    passed = failed = 0
    for fn in tests:
        try:
            fn()
        except Exception:
            failed += 1
            print(f"FAIL {fn.__name__}")
            traceback.print_exc()
        else:
            passed += 1
            print(f"ok   {fn.__name__}")
    dev.close()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
