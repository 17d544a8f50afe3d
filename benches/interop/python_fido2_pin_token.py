"""python-fido2 2.2.1's client CPU for one PIN/UV auth token (protocol two), the same
work `pin_token/client_crypto` of benches/benches/ctap2.rs times for our client:
`PinProtocolV2.encapsulate` (a fresh P-256 key pair and ECDH with the authenticator's
key, then the HKDF), encrypting the 16-byte PIN hash, decrypting the 48-byte token.
Nothing is sent: this is the client's CPU only, which is what the issue compares.

Usage: python python_fido2_pin_token.py [--count N] [--seconds S]

Prints `python-fido2 pin_token client_crypto: MEDIAN us (min MIN us, N runs of K)`;
with --seconds, counts tokens for S seconds instead and prints
`python-fido2 pin-token-crypto PER_SECOND`, per second of the process's CPU time (what
`cargo xtask bench --ctap2` alternates with `ctap2_ops pin-token-crypto`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from cryptography.hazmat.primitives.asymmetric import ec
from fido2.cose import ES256
from fido2.ctap2.pin import PinProtocolV2
from fido2.utils import sha256


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=None)
    args = parser.parse_args()
    # The authenticator's key-agreement key (its COSE form, as getKeyAgreement gives it).
    peer = ES256.from_cryptography_key(ec.generate_private_key(ec.SECP256R1()).public_key())
    protocol = PinProtocolV2()
    pin_hash = sha256(b"12345678")[:16]
    _, shared = protocol.encapsulate(peer)
    token_enc = protocol.encrypt(shared, os.urandom(32))

    def one() -> None:
        key_agreement, shared = protocol.encapsulate(peer)
        pin_hash_enc = protocol.encrypt(shared, pin_hash)
        token = protocol.decrypt(shared, token_enc)
        assert key_agreement and pin_hash_enc and token

    batch = 50
    for _ in range(batch):  # warm-up
        one()
    if args.seconds is not None:
        # Counted for S seconds of the wall clock, divided by the process's CPU time
        # (user + system), as `ctap2_ops pin-token-crypto` does: on a shared machine
        # the wall clock counts the other processes' turns too.
        start = time.perf_counter()
        cpu_start = time.process_time()
        count = 0
        while time.perf_counter() - start < args.seconds:
            one()
            count += 1
        print(f"python-fido2 pin-token-crypto {count / (time.process_time() - cpu_start):.1f}")
        return
    times = []
    for _ in range(max(1, args.count // batch)):
        start = time.perf_counter()
        for _ in range(batch):
            one()
        times.append((time.perf_counter() - start) / batch * 1e6)
    print(
        f"python-fido2 pin_token client_crypto: {statistics.median(times):.1f} us "
        f"(min {min(times):.1f} us, {len(times)} runs of {batch})"
    )


if __name__ == "__main__":
    main()
