"""python-fido2's CtapPcscDevice (pyscard, through pcscd) against `ctap serve --vpcd`.

Usage: test_pcsc_python_fido2.py READER_SUBSTRING
Exits non-zero on the first failed check; prints one line per check.
"""

import sys

from fido2.ctap import STATUS
from fido2.ctap2 import Ctap2
from fido2.hid import CAPABILITY
from fido2.pcsc import CtapPcscDevice


def main() -> int:
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    devices = list(CtapPcscDevice.list_devices(name))
    assert devices, f"python-fido2 found no FIDO card on a reader matching {name!r}"
    device = devices[0]
    print(f"pcsc interop: python-fido2 opened {device!r}, ATR {device.get_atr().hex()}")
    assert CAPABILITY.CBOR in device.capabilities, device.capabilities

    ctap2 = Ctap2(device)
    info = ctap2.get_info()
    assert "FIDO_2_1" in info.versions, info.versions
    assert bytes(info.aaguid) == b"ctap-rs-virtual!", info.aaguid
    print(f"pcsc interop: Ctap2(dev).get_info(): versions {info.versions}, aaguid {info.aaguid}")

    # authenticatorSelection waits for the (simulated) touch: 9100 polling with
    # NFCCTAP_GETRESPONSE, each keep-alive status reported.
    seen = []
    ctap2.selection(on_keepalive=seen.append)
    assert STATUS.UPNEEDED in seen, seen
    print(f"pcsc interop: selection() after keep-alives {[s.name for s in seen]}")
    device.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
