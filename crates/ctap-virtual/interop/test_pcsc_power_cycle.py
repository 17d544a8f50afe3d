"""python-fido2 2.2.1 over PC/SC: a power cycle of the card clears the PIN block.

CTAP 2.1 section 6.5.5.5: after three consecutive wrong PINs the authenticator answers
PIN_AUTH_BLOCKED, to the right PIN too, "until the authenticator is power cycled". A
card is power cycled when its connection is closed with SCARD_UNPOWER_CARD (pcscd then
switches the reader's power off: vpcd's power-off control byte, the field going away)
and opened again. Issue 22.

Usage: test_pcsc_power_cycle.py READER_SUBSTRING
Exits non-zero on the first failed check; prints one line per check.
"""

import sys

from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.ctap2.pin import ClientPin, PinProtocolV2
from fido2.pcsc import CtapPcscDevice
from smartcard.scard import SCARD_UNPOWER_CARD

PIN = "1234"


def open_card(name: str) -> CtapPcscDevice:
    devices = list(CtapPcscDevice.list_devices(name))
    assert devices, f"python-fido2 found no FIDO card on a reader matching {name!r}"
    return devices[0]


def status_of(call) -> int:
    try:
        call()
    except CtapError as error:
        return error.code
    raise AssertionError("expected a CTAP error")


def main() -> int:
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    device = open_card(name)
    ctap2 = Ctap2(device)
    pin = ClientPin(ctap2, PinProtocolV2())
    if not ctap2.get_info().options.get("clientPin"):
        pin.set_pin(PIN)
    retries_before, _ = pin.get_pin_retries()

    wrong = [status_of(lambda: pin.get_pin_token("0000")) for _ in range(3)]
    assert wrong == [
        CtapError.ERR.PIN_INVALID,
        CtapError.ERR.PIN_INVALID,
        CtapError.ERR.PIN_AUTH_BLOCKED,
    ], wrong
    blocked = status_of(lambda: pin.get_pin_token(PIN))
    assert blocked == CtapError.ERR.PIN_AUTH_BLOCKED, blocked
    retries, power_cycle = pin.get_pin_retries()
    assert (retries, power_cycle) == (retries_before - 3, True), (retries, power_cycle)
    print(f"pcsc power cycle: three wrong PINs block the right one (retries {retries}, powerCycleState {power_cycle})")

    # Close with unpower, then reconnect: the field goes away and comes back. pyscard
    # disconnects with the disposition its connect() chose, SCARD_UNPOWER_CARD.
    disposition = getattr(device._conn, "disposition", SCARD_UNPOWER_CARD)
    assert disposition == SCARD_UNPOWER_CARD, disposition
    device.close()
    device = open_card(name)
    ctap2 = Ctap2(device)
    pin = ClientPin(ctap2, PinProtocolV2())
    retries, power_cycle = pin.get_pin_retries()
    assert (retries, power_cycle) == (retries_before - 3, False), (retries, power_cycle)
    pin.get_pin_token(PIN)
    print("pcsc power cycle: after close (unpower) and reconnect the right PIN works, retries kept until then")
    device.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
