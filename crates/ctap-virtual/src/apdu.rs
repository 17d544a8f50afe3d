//! CTAPHID_MSG: CTAP1/U2F request APDUs (FIDO U2F Raw Message Formats, "U2F message
//! framing": ISO 7816-4 short and extended encodings). VERSION (without data),
//! REGISTER and AUTHENTICATE go to the CTAP2 authenticator's U2F half, which knows
//! whether CTAP1/U2F is on (CTAP 2.1 §7.2: off while alwaysUv is).

/// `SW_WRONG_LENGTH`: the APDU's length fields do not match its size.
pub(crate) const SW_WRONG_LENGTH: [u8; 2] = [0x67, 0x00];
/// `SW_CLA_NOT_SUPPORTED`.
pub(crate) const SW_CLA_NOT_SUPPORTED: [u8; 2] = [0x6E, 0x00];
/// `SW_INS_NOT_SUPPORTED`.
pub(crate) const SW_INS_NOT_SUPPORTED: [u8; 2] = [0x6D, 0x00];

/// U2F_VERSION (U2F Raw Message Formats, "GetVersion request and response").
pub(crate) const INS_VERSION: u8 = 0x03;

/// U2F_REGISTER.
const INS_REGISTER: u8 = 0x01;
/// U2F_AUTHENTICATE.
const INS_AUTHENTICATE: u8 = 0x02;

/// The answer to one request APDU: response data followed by the status word.
/// VERSION, REGISTER and AUTHENTICATE are answered by `u2f(ins, p1, data)`.
pub(crate) fn respond(apdu: &[u8], u2f: impl FnOnce(u8, u8, &[u8]) -> Vec<u8>) -> Vec<u8> {
    let Some(request) = Request::parse(apdu) else {
        return SW_WRONG_LENGTH.to_vec();
    };
    if request.cla != 0 {
        return SW_CLA_NOT_SUPPORTED.to_vec();
    }
    match request.ins {
        // The request has no data.
        INS_VERSION if !request.data.is_empty() => SW_WRONG_LENGTH.to_vec(),
        INS_VERSION | INS_REGISTER | INS_AUTHENTICATE => u2f(request.ins, request.p1, request.data),
        _ => SW_INS_NOT_SUPPORTED.to_vec(),
    }
}

/// The parts of a request APDU this device looks at.
#[derive(Debug, PartialEq, Eq)]
struct Request<'a> {
    cla: u8,
    ins: u8,
    p1: u8,
    data: &'a [u8],
}

impl<'a> Request<'a> {
    /// Parses the ISO 7816-4 encodings U2F allows (`None` when the length fields do not
    /// add up):
    ///
    /// ```text
    /// CLA INS P1 P2                                 case 1
    /// CLA INS P1 P2 Le                              case 2, short
    /// CLA INS P1 P2 00 Le1 Le2                      case 2, extended
    /// CLA INS P1 P2 Lc data [Le]                    case 3/4, short (Lc 1..=255)
    /// CLA INS P1 P2 00 Lc1 Lc2 data [Le1 Le2]       case 3/4, extended
    /// ```
    fn parse(apdu: &'a [u8]) -> Option<Self> {
        let (&[cla, ins, p1, _p2], body) = apdu.split_first_chunk::<4>()?;
        let data = match *body {
            [] | [_] | [0, _, _] => &[][..],
            [0, lc1, lc2, ref rest @ ..] => {
                let lc = usize::from(u16::from_be_bytes([lc1, lc2]));
                // An extended Lc of zero is not an ISO 7816-4 encoding, but U2F clients
                // send it for data-less requests (python-fido2's `send_apdu` packs
                // `00 | Lc 0000 | Le 0000`), and keys accept it: so does this one.
                if !(rest.len() == lc || rest.len() == lc + 2) {
                    return None;
                }
                rest.get(..lc)?
            }
            [lc, ref rest @ ..] => {
                let lc = usize::from(lc);
                // A short Lc of zero is not an encoding either.
                if lc == 0 || !(rest.len() == lc || rest.len() == lc + 1) {
                    return None;
                }
                rest.get(..lc)?
            }
        };
        Some(Self { cla, ins, p1, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `respond` with a U2F half that only says which instruction reached it.
    fn respond(apdu: &[u8]) -> Vec<u8> {
        super::respond(apdu, |ins, p1, data| [&[0xEE, ins, p1][..], data].concat())
    }

    #[test]
    fn version_reaches_the_u2f_half_in_every_encoding() {
        let expected = vec![0xEE, INS_VERSION, 0];
        for apdu in [
            &[0, 3, 0, 0][..],
            &[0, 3, 0, 0, 0],
            &[0, 3, 0, 0, 0, 0, 0],
            &[0, 3, 0, 0, 0, 0x01, 0x00],
            // python-fido2's Ctap1.get_version: extended Lc 0 and Le 0.
            &[0, 3, 0, 0, 0, 0, 0, 0, 0],
        ] {
            assert_eq!(respond(apdu), expected, "{apdu:02x?}");
        }
    }

    #[test]
    fn malformed_and_unsupported_requests() {
        // Too short for a header.
        for apdu in [&[][..], &[0], &[0, 3, 0]] {
            assert_eq!(respond(apdu), SW_WRONG_LENGTH);
        }
        // Lc that does not match the data.
        assert_eq!(respond(&[0, 3, 0, 0, 2, 0xAA]), SW_WRONG_LENGTH);
        assert_eq!(respond(&[0, 3, 0, 0, 0, 0, 3, 1, 2]), SW_WRONG_LENGTH);
        assert_eq!(respond(&[0, 3, 0, 0, 0, 0]), SW_WRONG_LENGTH);
        assert_eq!(respond(&[0, 3, 0, 0, 0, 0, 0, 0]), SW_WRONG_LENGTH);
        // VERSION with data.
        assert_eq!(respond(&[0, 3, 0, 0, 1, 0xAA]), SW_WRONG_LENGTH);
        assert_eq!(respond(&[0, 3, 0, 0, 0, 0, 1, 0xAA, 0, 0]), SW_WRONG_LENGTH);
        // Unknown instructions.
        for ins in [0x04, 0xC0] {
            assert_eq!(respond(&[0, ins, 0, 0]), SW_INS_NOT_SUPPORTED);
        }
        // REGISTER and AUTHENTICATE go to the U2F half with P1 and the data.
        assert_eq!(respond(&[0, 1, 0, 0, 1, 0xAA]), [0xEE, 1, 0, 0xAA]);
        assert_eq!(respond(&[0, 2, 7, 0, 0, 0, 1, 0xBB]), [0xEE, 2, 7, 0xBB]);
        assert_eq!(respond(&[0x80, 3, 0, 0]), SW_CLA_NOT_SUPPORTED);
    }

    #[test]
    fn parse_finds_the_data_in_short_and_extended_forms() {
        let short = [0, 1, 0, 0, 2, 0xAA, 0xBB, 0x00];
        assert_eq!(
            Request::parse(&short).map(|r| r.data),
            Some(&[0xAA, 0xBB][..])
        );
        let extended = [0, 1, 0, 0, 0, 0, 2, 0xAA, 0xBB, 0, 0];
        assert_eq!(
            Request::parse(&extended).map(|r| r.data),
            Some(&[0xAA, 0xBB][..])
        );
    }
}
