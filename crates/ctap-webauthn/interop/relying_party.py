"""python-fido2 2.2.1 as the relying party (and as a second client) for ctap-webauthn.

Reads one JSON command per line on stdin and answers one JSON line on stdout:

  {"cmd": "register_begin", "extensions": {...}}   -> the options a server sends
  {"cmd": "register_complete", "response": {...}} -> {"ok": true} after Fido2Server
                                                      verified RegistrationResponseJSON
  {"cmd": "authenticate_begin", "extensions": ...} -> the options
  {"cmd": "authenticate_complete", "response": ...} -> {"ok": true, "sign_count": N}
  {"cmd": "prf", "udp": "HOST:PORT", "credential_id": ..., "first": ..., "second": ...}
      -> python-fido2's Fido2Client's prf results for that credential, over UDP
         (one CTAPHID report per datagram) to the same authenticator

Any failure is printed as {"error": "..."} and the script exits non-zero.
"""

import json
import socket
import sys
import traceback

from fido2.client import DefaultClientDataCollector, Fido2Client
from fido2.hid import CtapHidDevice
from fido2.hid.base import CtapHidConnection, HidDescriptor
from fido2.server import Fido2Server
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import (
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialRequestOptions,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialType,
    PublicKeyCredentialUserEntity,
    UserVerificationRequirement,
)

ORIGIN = "https://example.com"
REPORT = 64


class Udp(CtapHidConnection):
    def __init__(self, host, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect((host, port))
        self.sock.settimeout(10)

    def read_packet(self):
        return self.sock.recv(REPORT)

    def write_packet(self, data):
        self.sock.send(data)

    def close(self):
        self.sock.close()


def main():
    server = Fido2Server(PublicKeyCredentialRpEntity(id="example.com", name="Example"))
    state = None
    credentials = []
    for line in sys.stdin:
        command = json.loads(line)
        cmd = command["cmd"]
        if cmd == "register_begin":
            user = PublicKeyCredentialUserEntity(id=b"user-id", name="alice", display_name="Alice")
            options, state = server.register_begin(
                user, user_verification="discouraged", extensions=command.get("extensions")
            )
            answer = dict(options)
        elif cmd == "register_complete":
            auth_data = server.register_complete(state, command["response"])
            credentials.append(auth_data.credential_data)
            answer = {"ok": True, "credential_id": websafe_encode(auth_data.credential_data.credential_id)}
        elif cmd == "authenticate_begin":
            options, state = server.authenticate_begin(
                credentials, user_verification="discouraged", extensions=command.get("extensions")
            )
            answer = dict(options)
        elif cmd == "authenticate_complete":
            server.authenticate_complete(state, credentials, command["response"])
            answer = {"ok": True}
        elif cmd == "prf":
            host, port = command["udp"].rsplit(":", 1)
            descriptor = HidDescriptor(command["udp"], 0, 0, REPORT, REPORT, "ctap-virtual", None)
            device = CtapHidDevice(descriptor, Udp(host, int(port)))
            client = Fido2Client(device, DefaultClientDataCollector(ORIGIN))
            values = {"first": websafe_decode(command["first"])}
            if command.get("second"):
                values["second"] = websafe_decode(command["second"])
            options = PublicKeyCredentialRequestOptions(
                challenge=b"python-fido2 challenge",
                rp_id="example.com",
                allow_credentials=[
                    PublicKeyCredentialDescriptor(
                        type=PublicKeyCredentialType.PUBLIC_KEY,
                        id=websafe_decode(command["credential_id"]),
                    )
                ],
                user_verification=UserVerificationRequirement.DISCOURAGED,
                extensions={"prf": {"eval": values}},
            )
            response = client.get_assertion(options).get_response(0)
            results = response.client_extension_results["prf"]["results"]
            # python-fido2 reports one salt's missing second output as empty: left out.
            answer = {}
            for name in ("first", "second"):
                value = results.get(name)
                if value:
                    answer[name] = websafe_encode(value) if isinstance(value, bytes) else value
            device.close()
        else:
            raise ValueError(f"unknown command {cmd!r}")
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # noqa: BLE001 - reported to the Rust test
        print(json.dumps({"error": f"{type(error).__name__}: {error}", "trace": traceback.format_exc()}), flush=True)
        sys.exit(1)
