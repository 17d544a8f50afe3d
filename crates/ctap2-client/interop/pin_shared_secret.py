"""The authenticator's half of the PIN/UV key agreement, done by python-fido2 2.2.1
and OpenSSL (through `cryptography`), for crates/ctap2-client/tests/python_pin.rs.

usage: pin_shared_secret.py SCALAR_HEX X_HEX Y_HEX
SCALAR is the authenticator's private key, (X, Y) the platform's public key our client
sent. Prints, one per line: protocol one's shared secret, protocol two's (CTAP 2.1
§6.5.6 / §6.5.7 `decapsulate`: ECDH, then the protocol's kdf), then protocol two's
encryption of 32 bytes of 0x11 under that secret (python-fido2's own `encrypt`), all hex.
"""

import sys

from cryptography.hazmat.primitives.asymmetric import ec
from fido2.ctap2.pin import PinProtocolV1, PinProtocolV2

scalar, x, y = (bytes.fromhex(arg) for arg in sys.argv[1:4])
curve = ec.SECP256R1()
private = ec.derive_private_key(int.from_bytes(scalar, "big"), curve)
peer = ec.EllipticCurvePublicNumbers(
    int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve
).public_key()
z = private.exchange(ec.ECDH(), peer)
one = PinProtocolV1().kdf(z)
two = PinProtocolV2().kdf(z)
print(one.hex())
print(two.hex())
print(PinProtocolV2().encrypt(two, b"\x11" * 32).hex())
