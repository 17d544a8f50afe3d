//! Bytes as hex text.

use core::fmt;

/// Displays bytes as lower-case hex without separators (`0102ff`): the form of frame
/// traces, of `ctap raw` answers and of captured reports. Borrows; writes straight to
/// the formatter, so it needs no allocation.
///
/// ```
/// assert_eq!(ctap_types::Hex(&[0x01, 0x02, 0xFF]).to_string(), "0102ff");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn every_byte_is_two_lower_case_digits() {
        assert_eq!(Hex(&[]).to_string(), "");
        assert_eq!(Hex(&[0x00, 0x0A, 0xA0, 0xFF]).to_string(), "000aa0ff");
        let all: [u8; 256] = core::array::from_fn(|i| u8::try_from(i).unwrap());
        let text = Hex(&all).to_string();
        assert_eq!(text.len(), 512);
        assert_eq!(&text[0x7F * 2..0x81 * 2], "7f80");
    }
}
