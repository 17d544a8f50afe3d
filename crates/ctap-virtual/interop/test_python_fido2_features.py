#!/usr/bin/env python3
"""python-fido2 2.2.1 drives the optional CTAP 2.1/2.2 features of ctap-virtual.

Runs against a fresh `ctap serve --udp` (no PIN, no credentials): getInfo's
members for the features; LargeBlobs (read/write the array, get/put/delete one
credential's blob); the largeBlob, credBlob, minPinLength and thirdPartyPayment
extensions through Fido2Client; Config.set_min_pin_length with RP IDs. Every result
is asserted.

usage: test_python_fido2_features.py HOST:PORT

Prints "N passed, M failed" last; exits non-zero on any failure.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
import traceback

from fido2.client import DefaultClientDataCollector, Fido2Client
from fido2.ctap import CtapError
from fido2.ctap2 import ClientPin, Config, Ctap2, CredentialManagement, LargeBlobs
from fido2.ctap2.extensions import (
    CredBlobExtension,
    LargeBlobExtension,
    MinPinLengthExtension,
    ThirdPartyPaymentExtension,
)
from fido2.ctap2.pin import PinProtocolV2
from fido2.server import Fido2Server
from fido2.utils import websafe_decode
from fido2.webauthn import PublicKeyCredentialRpEntity, PublicKeyCredentialUserEntity

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_python_fido2 import ORIGIN, RP, PinInteraction, open_device  # noqa: E402

PIN = "48151623"


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    host, port = sys.argv[1].rsplit(":", 1)
    version = importlib.metadata.version("fido2")
    assert version == "2.2.1", f"python-fido2 {version}, expected 2.2.1"
    dev = open_device(host, int(port))
    tests = []

    def test(fn):
        tests.append(fn)
        return fn

    feature_tests(test, dev)

    passed = failed = 0
    for fn in tests:
        try:
            fn()
        except Exception:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print(f"FAIL {fn.__name__}", file=sys.stderr)
            traceback.print_exc()
        else:
            passed += 1
            print(f"ok   {fn.__name__}", file=sys.stderr)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def expect_error(code, call):
    try:
        call()
    except CtapError as e:
        assert e.code == code, (e, code)
    else:
        raise AssertionError(f"no {code}")


def feature_tests(test, dev):
    state = {}

    def user(n: int) -> dict:
        return {"id": bytes([n]) * 8, "name": f"user{n}", "displayName": f"User {n}"}

    def client(pin=None, extensions=()):
        interaction = PinInteraction(pin) if pin else None
        kwargs = {"extensions": list(extensions)} if extensions else {}
        if interaction:
            return Fido2Client(dev, DefaultClientDataCollector(ORIGIN), interaction, **kwargs)
        return Fido2Client(dev, DefaultClientDataCollector(ORIGIN), **kwargs)

    def register(fido_client, extensions, resident=True, uv="discouraged"):
        server = Fido2Server(PublicKeyCredentialRpEntity(**RP))
        options, reg_state = server.register_begin(
            PublicKeyCredentialUserEntity(id=os.urandom(16), name="carol"),
            user_verification=uv,
            resident_key_requirement="required" if resident else "discouraged",
            extensions=extensions,
        )
        result = fido_client.make_credential(options.public_key)
        auth_data = server.register_complete(reg_state, result)
        return server, auth_data, result

    def authenticate(fido_client, server, credential, extensions, uv="discouraged"):
        options, auth_state = server.authenticate_begin(
            [credential], user_verification=uv, extensions=extensions
        )
        response = fido_client.get_assertion(options.public_key).get_response(0)
        server.authenticate_complete(auth_state, [credential], response)
        return response

    @test
    def get_info_advertises_the_features():
        info = Ctap2(dev).get_info()
        for name in ("largeBlobKey", "credBlob", "minPinLength", "thirdPartyPayment"):
            assert name in info.extensions, info.extensions
        assert info.options.get("largeBlobs") is True, info.options
        assert info.max_large_blob == 4096, info
        assert info.max_cred_blob_length == 32, info
        assert info.max_rpids_for_min_pin == 8, info
        assert LargeBlobs.is_supported(info)
        assert LargeBlobExtension().is_supported(Ctap2(dev))
        assert CredBlobExtension().is_supported(Ctap2(dev))

    @test
    def large_blobs_array_and_per_credential_blobs_without_pin():
        ctap2 = Ctap2(dev)
        blobs = LargeBlobs(ctap2)
        assert blobs.read_blob_array() == []
        keys = []
        for n in (1, 2):
            att = ctap2.make_credential(
                os.urandom(32), RP, user(n), [{"type": "public-key", "alg": -7}],
                extensions={"largeBlobKey": True}, options={"rk": True},
            )
            assert att.large_blob_key and len(att.large_blob_key) == 32, att
            keys.append(att.large_blob_key)
            # The same key comes back from getAssertion.
            assertion = ctap2.get_assertion(
                RP["id"], os.urandom(32),
                [{"type": "public-key", "id": att.auth_data.credential_data.credential_id}],
                extensions={"largeBlobKey": True},
            )
            assert assertion.large_blob_key == att.large_blob_key
        blobs.put_blob(keys[0], b"first blob")
        blobs.put_blob(keys[1], os.urandom(1000))
        assert blobs.get_blob(keys[0]) == b"first blob"
        assert len(blobs.read_blob_array()) == 2
        blobs.delete_blob(keys[1])
        assert blobs.get_blob(keys[1]) is None
        assert blobs.get_blob(keys[0]) == b"first blob"
        # Too big for maxSerializedLargeBlobArray.
        expect_error(
            CtapError.ERR.LARGE_BLOB_STORAGE_FULL,
            lambda: blobs.put_blob(keys[1], os.urandom(5000)),
        )
        # largeBlobKey without rk: INVALID_OPTION (CTAP 2.1 §12.3).
        expect_error(
            CtapError.ERR.INVALID_OPTION,
            lambda: ctap2.make_credential(
                os.urandom(32), RP, user(3), [{"type": "public-key", "alg": -7}],
                extensions={"largeBlobKey": True},
            ),
        )
        # A damaged write: INTEGRITY_FAILURE.
        data = b"\x80" + b"\x00" * 16
        expect_error(
            CtapError.ERR.INTEGRITY_FAILURE,
            lambda: ctap2.large_blobs(0, set=data, length=len(data)),
        )
        state["blob_key"] = keys[0]

    @test
    def fido2_client_large_blob_extension_writes_and_reads():
        fido_client = client()
        server, auth_data, result = register(
            fido_client, {"largeBlob": {"support": "required"}}
        )
        assert result.client_extension_results["largeBlob"]["supported"] is True, result
        credential = auth_data.credential_data
        response = authenticate(
            fido_client, server, credential, {"largeBlob": {"write": b"written by a client"}}
        )
        assert response.client_extension_results["largeBlob"]["written"] is True, response
        response = authenticate(fido_client, server, credential, {"largeBlob": {"read": True}})
        # Client extension results are in their JSON form: base64url.
        blob = websafe_decode(response.client_extension_results["largeBlob"]["blob"])
        assert blob == b"written by a client", response

    @test
    def fido2_client_cred_blob_is_stored_and_read_back():
        fido_client = client()
        blob = os.urandom(32)
        server, auth_data, _ = register(fido_client, {"credBlob": blob})
        assert auth_data.extensions.get("credBlob") is True, auth_data.extensions
        response = authenticate(
            fido_client, server, auth_data.credential_data, {"getCredBlob": True}
        )
        outputs = response.response.authenticator_data.extensions
        assert outputs.get("credBlob") == blob, outputs

    @test
    def fido2_client_third_party_payment():
        fido_client = client(extensions=[ThirdPartyPaymentExtension()])
        server, auth_data, _ = register(fido_client, {"payment": {"isPayment": True}})
        response = authenticate(
            fido_client, server, auth_data.credential_data, {"payment": {"isPayment": True}}
        )
        outputs = response.response.authenticator_data.extensions
        assert outputs.get("thirdPartyPayment") is True, outputs
        # A credential made without it says false.
        server, auth_data, _ = register(fido_client, None)
        response = authenticate(
            fido_client, server, auth_data.credential_data, {"payment": {"isPayment": True}}
        )
        outputs = response.response.authenticator_data.extensions
        assert outputs.get("thirdPartyPayment") is False, outputs

    @test
    def config_min_pin_length_rp_ids_and_the_min_pin_length_extension():
        ctap2 = Ctap2(dev)
        protocol = PinProtocolV2()
        ClientPin(ctap2, protocol).set_pin(PIN)
        token = ClientPin(ctap2, protocol).get_pin_token(
            PIN, ClientPin.PERMISSION.AUTHENTICATOR_CFG
        )
        config = Config(ctap2, protocol, token)
        expect_error(
            CtapError.ERR.KEY_STORE_FULL,
            lambda: config.set_min_pin_length(rp_ids=[f"rp{n}.example" for n in range(9)]),
        )
        config.set_min_pin_length(min_pin_length=6, rp_ids=[RP["id"]])
        assert Ctap2(dev).get_info().min_pin_length == 6
        fido_client = client(PIN, extensions=[MinPinLengthExtension()])
        _, auth_data, _ = register(fido_client, {"minPinLength": True}, uv="required")
        assert auth_data.extensions.get("minPinLength") == 6, auth_data.extensions

    @test
    def large_blob_writes_need_lbw_once_a_pin_is_set():
        ctap2 = Ctap2(dev)
        protocol = PinProtocolV2()
        key = state["blob_key"]
        expect_error(
            CtapError.ERR.PUAT_REQUIRED, lambda: LargeBlobs(ctap2).put_blob(key, b"x")
        )
        wrong = ClientPin(ctap2, protocol).get_pin_token(
            PIN, ClientPin.PERMISSION.CREDENTIAL_MGMT
        )
        expect_error(
            CtapError.ERR.PIN_AUTH_INVALID,
            lambda: LargeBlobs(ctap2, protocol, wrong).put_blob(key, b"x"),
        )
        token = ClientPin(ctap2, protocol).get_pin_token(
            PIN, ClientPin.PERMISSION.LARGE_BLOB_WRITE
        )
        blobs = LargeBlobs(ctap2, protocol, token)
        blobs.put_blob(key, b"with a token")
        assert LargeBlobs(ctap2).get_blob(key) == b"with a token"

    @test
    def credential_management_reports_large_blob_keys_and_payment():
        ctap2 = Ctap2(dev)
        protocol = PinProtocolV2()
        token = ClientPin(ctap2, protocol).get_pin_token(
            PIN, ClientPin.PERMISSION.CREDENTIAL_MGMT
        )
        credman = CredentialManagement(ctap2, protocol, token)
        rp_id_hash = next(
            rp[CredentialManagement.RESULT.RP_ID_HASH] for rp in credman.enumerate_rps()
        )
        creds = credman.enumerate_creds(rp_id_hash)
        keys = [c.get(CredentialManagement.RESULT.LARGE_BLOB_KEY) for c in creds]
        assert state["blob_key"] in keys, keys
        payment = [c.get(CredentialManagement.RESULT.THIRD_PARTY_PAYMENT) for c in creds]
        assert True in payment and False in payment, payment


if __name__ == "__main__":
    sys.exit(main())
