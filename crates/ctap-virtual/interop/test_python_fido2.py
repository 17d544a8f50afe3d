#!/usr/bin/env python3
"""python-fido2 2.2.1 against the ctap-virtual UDP server.

A real client nobody here wrote drives the virtual authenticator through a small
CtapHidConnection over UDP (one report per datagram). Every result is asserted.
The CTAP2 tests run in order on one authenticator: Ctap2 credentials and
assertions, Fido2Client + Fido2Server without a PIN, ClientPin with protocols 2
and 1, Fido2Client + Fido2Server with the PIN, CredentialManagement, Config, and
last the three-wrong-PINs block.

usage: test_python_fido2.py HOST:PORT [--touch-delay-ms N] [--resumed]

With --resumed only the checks of a server restarted on the state file of a
previous full run are made (PIN, credentials and counter survived).

The server must approve touches after N ms (default 600), e.g.
`ctap serve --udp 127.0.0.1:0 --touch-delay 600` (what run.sh starts).
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

from fido2.attestation import PackedAttestation
from fido2.client import DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.cose import CoseKey
from fido2.ctap import STATUS, CtapError
from fido2.ctap1 import ApduError, Ctap1
from fido2.ctap2 import ClientPin, Config, Ctap2, CredentialManagement
from fido2.ctap2.extensions import CredProtectExtension, HmacSecretExtension
from fido2.ctap2.pin import PinProtocolV1, PinProtocolV2
from fido2.server import Fido2Server
from fido2.utils import sha256
from fido2.webauthn import (
    AttestationObject,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialUserEntity,
    UserVerificationRequirement,
)
from fido2.hid import CAPABILITY, CTAPHID, CtapHidDevice
from fido2.hid.base import CtapHidConnection, HidDescriptor
from fido2.webauthn import Aaguid

REPORT_SIZE = 64
# python-fido2 has no time-outs: a silent server would hang it forever. A socket
# time-out turns that into a failed test instead.
READ_TIMEOUT_S = 10.0
AAGUID = Aaguid(b"ctap-rs-virtual!")
# Every credential algorithm the server offers by default, in its getInfo order (COSE
# ids as python-fido2 2.2's fido2/cose.py has them): ES256, EdDSA, ES384, ES512,
# ES256K, RS256, ML-DSA-44, ML-DSA-65, ML-DSA-87.
ALGORITHMS = [-7, -8, -35, -36, -47, -257, -48, -49, -50]


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
        assert info.versions == ["U2F_V2", "FIDO_2_0", "FIDO_2_1"], info.versions
        assert info.aaguid == AAGUID, info.aaguid
        for option, value in {
            "rk": True, "up": True, "plat": False, "clientPin": False, "credMgmt": True,
            "authnrCfg": True, "alwaysUv": False, "setMinPINLength": True,
            "makeCredUvNotRqd": True, "pinUvAuthToken": True,
        }.items():
            assert info.options.get(option) == value, (option, info.options)
        assert info.max_msg_size == 7609, info.max_msg_size
        assert info.transports == ["usb"], info.transports
        # The optional features' extensions are checked in test_python_fido2_features.py.
        assert info.extensions[:2] == ["credProtect", "hmac-secret"], info.extensions
        assert info.pin_uv_protocols == [2, 1], info.pin_uv_protocols
        assert [a["alg"] for a in info.algorithms] == ALGORITHMS, info.algorithms
        assert info.min_pin_length == 4, info.min_pin_length
        assert info.remaining_disc_creds == 50, info.remaining_disc_creds

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

    if "--resumed" in sys.argv:
        tests.clear()
        resumed_tests(test, dev)
    else:
        ctap2_tests(test, dev, touch_delay)

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


RP = {"id": "example.com", "name": "Example"}
ORIGIN = "https://example.com"
PIN = "123456"


class PinInteraction(UserInteraction):
    """Answers Fido2Client's PIN prompt."""

    def __init__(self, pin: str):
        self.pin = pin
        self.asked = 0

    def request_pin(self, permissions, rp_id):
        self.asked += 1
        return self.pin


def ctap2_tests(test, dev, touch_delay):
    """CTAP2 proper: credentials, PIN (both protocols), management, Fido2Client."""
    state = {}

    def user(n: int) -> dict:
        return {"id": bytes([n]) * 8, "name": f"user{n}", "displayName": f"User {n}"}

    @test
    def ctap2_make_credential_and_get_assertion_every_algorithm():
        """Each algorithm's self attestation and assertion verified by python-fido2's own
        CoseKey classes (OpenSSL through `cryptography`)."""
        ctap2 = Ctap2(dev)
        verifiable = set(CoseKey.supported_algorithms())
        missing = [alg for alg in ALGORITHMS if alg not in verifiable]
        if missing:
            # ML-DSA needs cryptography >= 47 on an OpenSSL with ML-DSA (3.5+).
            message = f"python-fido2 here cannot verify {missing} (cryptography {importlib.metadata.version('cryptography')})"
            if os.environ.get("CI") == "1":
                raise AssertionError(message)
            print(f"SKIPPED for those algorithms: {message}")
        for alg in ALGORITHMS:
            cdh = os.urandom(32)
            # An RP list whose first entry the authenticator does not offer (RS1):
            # §6.1.2 step 3 takes the next.
            att = ctap2.make_credential(
                cdh, RP, user(1),
                [{"type": "public-key", "alg": -65535}, {"type": "public-key", "alg": alg}],
            )
            assert att.fmt == "packed", att.fmt
            cred = att.auth_data.credential_data
            assert cred.aaguid == AAGUID
            assert cred.public_key[3] == alg, cred.public_key
            assert att.auth_data.is_user_present() and not att.auth_data.is_user_verified()
            if alg not in verifiable:
                continue
            assert type(cred.public_key) is CoseKey.for_alg(alg), type(cred.public_key)
            # Self attestation verified by python-fido2's own packed verifier.
            PackedAttestation().verify(att.att_stmt, att.auth_data, cdh)
            cdh2 = os.urandom(32)
            assertion = ctap2.get_assertion(
                "example.com", cdh2, [{"type": "public-key", "id": cred.credential_id}]
            )
            assertion.verify(cdh2, cred.public_key)
            try:
                assertion.verify(os.urandom(32), cred.public_key)
            except Exception:  # noqa: BLE001 - cryptography's InvalidSignature
                pass
            else:
                raise AssertionError(f"alg {alg}: a signature over other data verified")
            assert assertion.auth_data.counter > att.auth_data.counter
            assert assertion.credential["id"] == cred.credential_id
            # The same id for another RP is not ours.
            try:
                ctap2.get_assertion(
                    "other.example", cdh2, [{"type": "public-key", "id": cred.credential_id}]
                )
            except CtapError as e:
                assert e.code == CtapError.ERR.NO_CREDENTIALS, e
            else:
                raise AssertionError("credential used for another RP")

    @test
    def ctap2_discoverable_credentials_and_get_next_assertion():
        ctap2 = Ctap2(dev)
        rp = {"id": "multi.example", "name": "Multi"}
        keys = {}
        for n in (1, 2, 3):
            att = ctap2.make_credential(
                os.urandom(32), rp, user(n), [{"type": "public-key", "alg": -7}],
                options={"rk": True},
            )
            keys[att.auth_data.credential_data.credential_id] = att.auth_data.credential_data.public_key
        cdh = os.urandom(32)
        assertions = ctap2.get_assertions("multi.example", cdh)
        assert len(assertions) == 3, len(assertions)
        assert assertions[0].number_of_credentials == 3
        # Newest first; without UV only the user id.
        assert [a.user["id"] for a in assertions] == [user(n)["id"] for n in (3, 2, 1)]
        assert all("name" not in a.user for a in assertions), assertions[0].user
        for a in assertions:
            a.verify(cdh, keys[a.credential["id"]])
        try:
            ctap2.get_next_assertion()
        except CtapError as e:
            assert e.code == CtapError.ERR.NOT_ALLOWED, e
        else:
            raise AssertionError("a fourth assertion")

    @test
    def ctap2_exclude_list_and_errors():
        ctap2 = Ctap2(dev)
        att = ctap2.make_credential(os.urandom(32), RP, user(4), [{"type": "public-key", "alg": -7}])
        cred_id = att.auth_data.credential_data.credential_id
        cases = [
            (lambda: ctap2.make_credential(
                os.urandom(32), RP, user(4), [{"type": "public-key", "alg": -7}],
                exclude_list=[{"type": "public-key", "id": cred_id}]),
             CtapError.ERR.CREDENTIAL_EXCLUDED),
            (lambda: ctap2.make_credential(
                os.urandom(32), RP, user(4), [{"type": "public-key", "alg": -65535}]),
             CtapError.ERR.UNSUPPORTED_ALGORITHM),
            (lambda: ctap2.get_assertion("nobody.example", os.urandom(32)),
             CtapError.ERR.NO_CREDENTIALS),
            (lambda: ctap2.get_assertion(
                "example.com", os.urandom(32), options={"rk": True}),
             CtapError.ERR.UNSUPPORTED_OPTION),
        ]
        for call, code in cases:
            try:
                call()
            except CtapError as e:
                assert e.code == code, (e, code)
            else:
                raise AssertionError(f"no {code}")

    def register_and_authenticate(client, uv, resident, extensions=None):
        server = Fido2Server(PublicKeyCredentialRpEntity(**RP))
        options, reg_state = server.register_begin(
            PublicKeyCredentialUserEntity(id=os.urandom(16), name="alice", display_name="Alice"),
            user_verification=uv,
            resident_key_requirement="required" if resident else "discouraged",
            extensions=extensions,
        )
        result = client.make_credential(options.public_key)
        auth_data = server.register_complete(reg_state, result)
        credentials = [auth_data.credential_data]
        options, auth_state = server.authenticate_begin(credentials, user_verification=uv)
        response = client.get_assertion(options.public_key).get_response(0)
        server.authenticate_complete(auth_state, credentials, response)
        return auth_data, response

    @test
    def fido2_client_registers_and_authenticates_without_pin():
        client = Fido2Client(dev, DefaultClientDataCollector(ORIGIN))
        auth_data, response = register_and_authenticate(
            client, UserVerificationRequirement.DISCOURAGED, resident=False
        )
        assert not auth_data.is_user_verified()
        auth_data, response = register_and_authenticate(
            client, UserVerificationRequirement.DISCOURAGED, resident=True
        )
        assert auth_data.is_user_present()

    @test
    def fido2_client_hmac_secret_is_stable_per_salt():
        client = Fido2Client(
            dev,
            DefaultClientDataCollector(ORIGIN),
            extensions=[HmacSecretExtension(allow_hmac_secret=True), CredProtectExtension()],
        )
        server = Fido2Server(PublicKeyCredentialRpEntity(**RP))
        options, reg_state = server.register_begin(
            PublicKeyCredentialUserEntity(id=os.urandom(16), name="bob"),
            user_verification="discouraged",
            extensions={"hmacCreateSecret": True},
        )
        result = client.make_credential(options.public_key)
        assert result.client_extension_results.get("hmacCreateSecret") is True, result
        auth_data = server.register_complete(reg_state, result)
        outputs = []
        for salt in (b"a" * 32, b"a" * 32, b"b" * 32):
            options, _ = server.authenticate_begin(
                [auth_data.credential_data], user_verification="discouraged",
                extensions={"hmacGetSecret": {"salt1": salt}},
            )
            response = client.get_assertion(options.public_key).get_response(0)
            outputs.append(response.client_extension_results["hmacGetSecret"]["output1"])
        assert outputs[0] == outputs[1] != outputs[2], outputs

    @test
    def client_pin_protocol_2_set_change_and_token():
        ctap2 = Ctap2(dev)
        pin = ClientPin(ctap2, PinProtocolV2())
        # No PIN, no retry counter: PIN_NOT_SET, as the deployed keys answer.
        try:
            pin.get_pin_retries()
        except CtapError as e:
            assert e.code == CtapError.ERR.PIN_NOT_SET, e
        else:
            raise AssertionError("getPINRetries without a PIN answered")
        pin.set_pin("1234")
        assert pin.get_pin_retries() == (8, False)
        assert Ctap2(dev).get_info().options["clientPin"] is True
        try:
            pin.set_pin("5678")
        except CtapError as e:
            # CTAP 2.1 §6.5.5.5 step 3.
            assert e.code == CtapError.ERR.PIN_AUTH_INVALID, e
        else:
            raise AssertionError("set_pin twice")
        pin.change_pin("1234", PIN)
        try:
            pin.get_pin_token("000000")
        except CtapError as e:
            assert e.code == CtapError.ERR.PIN_INVALID, e
        else:
            raise AssertionError("wrong PIN accepted")
        assert pin.get_pin_retries()[0] == 7
        token = pin.get_pin_token(PIN, ClientPin.PERMISSION.MAKE_CREDENTIAL, "example.com")
        assert len(token) == 32
        assert pin.get_pin_retries()[0] == 8

    @test
    def client_pin_protocol_1_token_makes_a_verified_credential():
        ctap2 = Ctap2(dev)
        protocol = PinProtocolV1()
        token = ClientPin(ctap2, protocol).get_pin_token(PIN)
        cdh = os.urandom(32)
        att = ctap2.make_credential(
            cdh, RP, user(5), [{"type": "public-key", "alg": -8}],
            options={"rk": True},
            pin_uv_param=protocol.authenticate(token, cdh),
            pin_uv_protocol=protocol.VERSION,
        )
        assert att.auth_data.is_user_verified()
        # A discoverable credential without the PIN now: PUAT_REQUIRED.
        try:
            ctap2.make_credential(
                os.urandom(32), RP, user(6), [{"type": "public-key", "alg": -7}],
                options={"rk": True},
            )
        except CtapError as e:
            assert e.code == CtapError.ERR.PUAT_REQUIRED, e
        else:
            raise AssertionError("rk without PIN accepted")
        # A wrong pinUvAuthParam.
        try:
            ctap2.make_credential(
                cdh, RP, user(5), [{"type": "public-key", "alg": -7}],
                pin_uv_param=b"\0" * 16, pin_uv_protocol=1,
            )
        except CtapError as e:
            assert e.code == CtapError.ERR.PIN_AUTH_INVALID, e
        else:
            raise AssertionError("bad pinUvAuthParam accepted")

    @test
    def one_token_per_operation_that_collects_user_presence():
        # CTAP 2.1 §6.1.2 step 14.4 / §6.2.2 step 9: a second use of the same token
        # fails with PIN_AUTH_INVALID; a silent assertion (up=false) does not spend it.
        ctap2 = Ctap2(dev)
        protocol = PinProtocolV2()
        both = ClientPin.PERMISSION.MAKE_CREDENTIAL | ClientPin.PERMISSION.GET_ASSERTION
        token = ClientPin(ctap2, protocol).get_pin_token(PIN, both, RP["id"])

        def make(n):
            cdh = os.urandom(32)
            return ctap2.make_credential(
                cdh, RP, user(n), [{"type": "public-key", "alg": -7}],
                pin_uv_param=protocol.authenticate(token, cdh),
                pin_uv_protocol=protocol.VERSION,
            )

        att = make(40)
        assert att.auth_data.is_user_verified()
        try:
            make(41)
        except CtapError as e:
            assert e.code == CtapError.ERR.PIN_AUTH_INVALID, e
        else:
            raise AssertionError("a spent token made a second credential")
        token = ClientPin(ctap2, protocol).get_pin_token(PIN, both, RP["id"])
        allow = [{"type": "public-key", "id": att.auth_data.credential_data.credential_id}]

        def assert_with(up):
            cdh = os.urandom(32)
            return ctap2.get_assertion(
                RP["id"], cdh, allow, options={"up": up},
                pin_uv_param=protocol.authenticate(token, cdh),
                pin_uv_protocol=protocol.VERSION,
            )

        for _ in range(2):
            silent = assert_with(False)
            assert silent.auth_data.is_user_verified()
            assert not silent.auth_data.is_user_present()
        assert assert_with(True).auth_data.is_user_present()
        try:
            assert_with(True)
        except CtapError as e:
            assert e.code == CtapError.ERR.PIN_AUTH_INVALID, e
        else:
            raise AssertionError("a spent token made a second assertion")

    @test
    def fido2_client_registers_and_authenticates_with_pin():
        interaction = PinInteraction(PIN)
        client = Fido2Client(dev, DefaultClientDataCollector(ORIGIN), interaction)
        auth_data, response = register_and_authenticate(
            client, UserVerificationRequirement.REQUIRED, resident=True
        )
        assert auth_data.is_user_verified()
        assert response.response.authenticator_data.is_user_verified()
        assert interaction.asked >= 2, interaction.asked

    @test
    def credential_management_lists_updates_and_deletes():
        ctap2 = Ctap2(dev)
        for protocol in (PinProtocolV2(), PinProtocolV1()):
            token = ClientPin(ctap2, protocol).get_pin_token(
                PIN, ClientPin.PERMISSION.CREDENTIAL_MGMT
            )
            credman = CredentialManagement(ctap2, protocol, token)
            metadata = credman.get_metadata()
            count = metadata[CredentialManagement.RESULT.EXISTING_CRED_COUNT]
            remaining = metadata[CredentialManagement.RESULT.MAX_REMAINING_COUNT]
            assert count >= 5 and count + remaining == 50, metadata
            rps = {rp[CredentialManagement.RESULT.RP]["id"] for rp in credman.enumerate_rps()}
            assert {"multi.example", "example.com"} <= rps, rps
        creds = credman.enumerate_creds(sha256(b"multi.example"))
        assert len(creds) == 3, creds
        first = creds[0]
        cred_id = first[CredentialManagement.RESULT.CREDENTIAL_ID]
        new_user = dict(first[CredentialManagement.RESULT.USER], name="renamed")
        credman.update_user_info(cred_id, new_user)
        creds = credman.enumerate_creds(sha256(b"multi.example"))
        assert any(c[CredentialManagement.RESULT.USER].get("name") == "renamed" for c in creds)
        credman.delete_cred(cred_id)
        assert len(credman.enumerate_creds(sha256(b"multi.example"))) == 2
        try:
            credman.delete_cred(cred_id)
        except CtapError as e:
            assert e.code == CtapError.ERR.NO_CREDENTIALS, e
        else:
            raise AssertionError("deleted twice")

    @test
    def an_rp_scoped_credential_management_token_reaches_only_its_rp():
        # CTAP 2.1 §6.8.2-§6.8.4: a cm token with a permissions RP ID.
        ctap2 = Ctap2(dev)
        protocol = PinProtocolV2()
        token = ClientPin(ctap2, protocol).get_pin_token(
            PIN, ClientPin.PERMISSION.CREDENTIAL_MGMT, "multi.example"
        )
        credman = CredentialManagement(ctap2, protocol, token)
        for refused in (credman.get_metadata, credman.enumerate_rps):
            try:
                refused()
            except CtapError as e:
                assert e.code == CtapError.ERR.PIN_AUTH_INVALID, e
            else:
                raise AssertionError(f"{refused.__name__} with an RP-scoped token")
        assert len(credman.enumerate_creds(sha256(b"multi.example"))) == 2
        try:
            credman.enumerate_creds(sha256(b"example.com"))
        except CtapError as e:
            assert e.code == CtapError.ERR.PIN_AUTH_INVALID, e
        else:
            raise AssertionError("another RP's credentials listed")

    @test
    def config_toggle_always_uv_and_min_pin_length():
        ctap2 = Ctap2(dev)
        protocol = PinProtocolV2()
        token = ClientPin(ctap2, protocol).get_pin_token(
            PIN, ClientPin.PERMISSION.AUTHENTICATOR_CFG
        )
        config = Config(ctap2, protocol, token)
        config.toggle_always_uv()
        info = Ctap2(dev).get_info()
        assert info.options["alwaysUv"] is True
        # CTAP 2.1 §7.2: alwaysUv disables CTAP1/U2F.
        assert "U2F_V2" not in info.versions, info.versions
        try:
            Ctap1(dev).register(os.urandom(32), sha256(b"u2f.example"))
        except ApduError as e:
            assert e.code == 0x6986, hex(e.code)
        else:
            raise AssertionError("U2F REGISTER under alwaysUv")
        try:
            Ctap1(dev).get_version()
        except ApduError as e:
            assert e.code == 0x6986, hex(e.code)
        else:
            raise AssertionError("U2F VERSION under alwaysUv")
        config.toggle_always_uv()
        info = Ctap2(dev).get_info()
        assert info.options["alwaysUv"] is False
        assert "U2F_V2" in info.versions, info.versions
        assert Ctap1(dev).get_version() == "U2F_V2"
        Ctap1(dev).register(os.urandom(32), sha256(b"u2f.example"))
        config.set_min_pin_length(6)
        assert Ctap2(dev).get_info().min_pin_length == 6
        try:
            ClientPin(ctap2, PinProtocolV1()).change_pin(PIN, "12345")
        except CtapError as e:
            assert e.code == CtapError.ERR.PIN_POLICY_VIOLATION, e
        else:
            raise AssertionError("a PIN under the minimum length accepted")
        try:
            config.set_min_pin_length(4)
        except CtapError as e:
            assert e.code == CtapError.ERR.PIN_POLICY_VIOLATION, e
        else:
            raise AssertionError("min PIN length lowered")

    @test
    def three_wrong_pins_block_until_power_cycle():
        pin = ClientPin(Ctap2(dev), PinProtocolV2())
        codes = []
        for _ in range(4):
            try:
                pin.get_pin_token("999999")
            except CtapError as e:
                codes.append(e.code)
        assert codes == [
            CtapError.ERR.PIN_INVALID,
            CtapError.ERR.PIN_INVALID,
            CtapError.ERR.PIN_AUTH_BLOCKED,
            CtapError.ERR.PIN_AUTH_BLOCKED,
        ], codes
        assert pin.get_pin_retries() == (5, True)


def resumed_tests(test, dev):
    """A server restarted on the state file of a full run."""

    @test
    def restart_keeps_pin_credentials_and_counter():
        ctap2 = Ctap2(dev)
        assert ctap2.info.options["clientPin"] is True
        assert ctap2.info.min_pin_length == 6, ctap2.info.min_pin_length
        pin = ClientPin(ctap2, PinProtocolV2())
        # Retries survive the restart; the power-cycle block does not.
        assert pin.get_pin_retries() == (5, False), pin.get_pin_retries()
        token = pin.get_pin_token(PIN, ClientPin.PERMISSION.CREDENTIAL_MGMT)
        assert pin.get_pin_retries() == (8, False)
        credman = CredentialManagement(ctap2, pin.protocol, token)
        assert len(credman.enumerate_creds(sha256(b"multi.example"))) == 2
        assertions = ctap2.get_assertions("multi.example", os.urandom(32))
        assert len(assertions) == 2, len(assertions)
        assert assertions[0].auth_data.counter > 20, assertions[0].auth_data.counter


if __name__ == "__main__":
    sys.exit(main())
