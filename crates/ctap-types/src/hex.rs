//! Bytes as hex text, and hex text as bytes: the one hex helper of the workspace (frame
//! traces, `ctap raw`, captured reports, the CLI's hex arguments).

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

/// Why hex text is not bytes ([`decode_hex`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HexError {
    /// A character that is not a hex digit (nor a separator), at this character index.
    NotHex {
        /// The character.
        found: char,
        /// Its index among the text's characters (0-based).
        position: usize,
    },
    /// An odd number of hex digits: the last byte has one digit.
    OddLength {
        /// How many digits there are.
        digits: usize,
    },
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotHex { found, position } => {
                write!(f, "not a hex digit at position {}: {found:?}", position + 1)
            }
            Self::OddLength { digits } => write!(f, "odd number of hex digits ({digits})"),
        }
    }
}

impl core::error::Error for HexError {}

/// The bytes of hex text, upper or lower case, one at a time (no allocation: collect
/// them where a `Vec` is wanted). An optional `0x` prefix and the separators people put
/// between bytes (spaces, tabs, `:`) are skipped, so `0102ff`, `01 02 FF`, `01:02:ff`
/// and `0x0102ff` are the same three bytes. Anything else is an error naming it, and so
/// is a last digit without its pair.
///
/// ```
/// use ctap_types::{HexError, decode_hex};
/// let bytes: Result<Vec<u8>, _> = decode_hex("01:02 FF").collect();
/// assert_eq!(bytes, Ok(vec![0x01, 0x02, 0xFF]));
/// let odd: Result<Vec<u8>, _> = decode_hex("0x123").collect();
/// assert_eq!(odd, Err(HexError::OddLength { digits: 3 }));
/// ```
pub fn decode_hex(text: &str) -> HexDecoder<'_> {
    let (text, skipped) = match text.trim_start().strip_prefix("0x") {
        Some(rest) => (rest, text.chars().count() - rest.chars().count()),
        None => (text, 0),
    };
    HexDecoder {
        chars: text.chars(),
        position: skipped,
        digits: 0,
        done: false,
    }
}

/// The iterator of [`decode_hex`].
#[derive(Clone, Debug)]
pub struct HexDecoder<'a> {
    chars: core::str::Chars<'a>,
    /// The index of the next character.
    position: usize,
    /// Digits read so far.
    digits: usize,
    /// An error was returned: nothing more.
    done: bool,
}

impl HexDecoder<'_> {
    /// The next hex digit's value; `None` at the end.
    fn digit(&mut self) -> Option<Result<u8, HexError>> {
        loop {
            let found = self.chars.next()?;
            let position = self.position;
            self.position += 1;
            if matches!(found, ' ' | '\t' | ':') {
                continue;
            }
            self.digits += 1;
            return Some(
                found
                    .to_digit(16)
                    .and_then(|d| u8::try_from(d).ok())
                    .ok_or(HexError::NotHex { found, position }),
            );
        }
    }
}

impl Iterator for HexDecoder<'_> {
    type Item = Result<u8, HexError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = match self.digit()? {
            Ok(high) => match self.digit() {
                Some(Ok(low)) => Ok(high << 4 | low),
                Some(Err(error)) => Err(error),
                None => Err(HexError::OddLength {
                    digits: self.digits,
                }),
            },
            Err(error) => Err(error),
        };
        self.done = result.is_err();
        Some(result)
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

    fn decoded(text: &str) -> Result<std::vec::Vec<u8>, HexError> {
        decode_hex(text).collect()
    }

    #[test]
    fn hex_decodes_with_separators_and_prefix_and_round_trips() {
        let all: [u8; 256] = core::array::from_fn(|i| u8::try_from(i).unwrap());
        assert_eq!(decoded(&Hex(&all).to_string()).unwrap(), all);
        assert_eq!(decoded("").unwrap(), []);
        assert_eq!(decoded("0x0aFF").unwrap(), [0x0A, 0xFF]);
        assert_eq!(decoded("0a:ff 10\t20").unwrap(), [0x0A, 0xFF, 0x10, 0x20]);
        assert_eq!(
            decoded("0 a").unwrap(),
            [0x0A],
            "separators between digits too"
        );
    }

    #[test]
    fn bad_hex_is_named_never_a_panic() {
        assert_eq!(
            decoded("01zz"),
            Err(HexError::NotHex {
                found: 'z',
                position: 2
            })
        );
        assert_eq!(decoded("abc"), Err(HexError::OddLength { digits: 3 }));
        assert_eq!(
            decoded("é1"),
            Err(HexError::NotHex {
                found: 'é',
                position: 0
            })
        );
        assert_eq!(
            decoded("01zz").map_err(|e| e.to_string()),
            Err("not a hex digit at position 3: 'z'".into())
        );
        // After an error the iterator ends.
        let mut decoder = decode_hex("zz0102");
        assert!(decoder.next().unwrap().is_err());
        assert!(decoder.next().is_none());
    }
}
