//! A HID report descriptor parser: is it a FIDO device, and how big are its reports?

use std::fmt;

/// The FIDO Alliance usage page (HID Usage Tables, "FIDO Alliance Page").
pub const FIDO_USAGE_PAGE: u16 = 0xF1D0;
/// The CTAPHID usage on the FIDO page ("U2F Authenticator Device").
pub const FIDO_USAGE_CTAPHID: u16 = 0x01;

/// What a report descriptor says about a device.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DescriptorInfo {
    /// A top-level application collection has usage page 0xF1D0, usage 0x01.
    pub is_fido: bool,
    /// Bytes of the input reports (device to host): of the FIDO collection if there is
    /// one, else of the whole descriptor. Report-ID bytes are not counted.
    pub input_report_size: usize,
    /// Bytes of the output reports (host to device), counted like
    /// [`input_report_size`](Self::input_report_size).
    pub output_report_size: usize,
}

/// Why bytes are not a usable report descriptor. Offsets are of the item's prefix byte.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DescriptorError {
    /// The descriptor ends inside an item.
    #[error(
        "report descriptor truncated: item at offset {offset} needs {needed} bytes, {got} left"
    )]
    Truncated {
        /// Where the item starts.
        offset: usize,
        /// The bytes the item needs (prefix included).
        needed: usize,
        /// The bytes left.
        got: usize,
    },
    /// An End Collection without an open collection.
    #[error("End Collection at offset {offset} without an open collection")]
    UnbalancedEndCollection {
        /// Where the item is.
        offset: usize,
    },
    /// The descriptor ends with collections still open.
    #[error("report descriptor ends with {open} collection(s) still open")]
    UnclosedCollection {
        /// How many.
        open: usize,
    },
    /// A Pop without a Push, or more nested Pushes than a parser keeps.
    #[error("unbalanced Push/Pop at offset {offset}")]
    UnbalancedPush {
        /// Where the item is.
        offset: usize,
    },
    /// A report's bit count does not fit (report size times count overflowed).
    #[error("report size overflow at offset {offset}")]
    Overflow {
        /// Where the main item is.
        offset: usize,
    },
}

/// The global items a main item uses; they persist across main items (HID 1.11 §6.2.2.7).
#[derive(Clone, Copy, Default, Debug)]
struct Globals {
    usage_page: u32,
    report_size: u32,
    report_count: u32,
}

/// The deepest Push stack kept: real descriptors use one or two levels.
const MAX_PUSH_DEPTH: usize = 16;

/// Parses a HID report descriptor (HID 1.11 §6.2.2): short items of 0, 1, 2 and 4 data
/// bytes, long items (skipped), global items that persist until changed, Push/Pop,
/// 32-bit usages that carry their own page, and nested collections.
///
/// A device is FIDO if a top-level (application) collection has usage page 0xF1D0 and
/// usage 0x01; its report sizes are the bits of its Input and Output items, rounded
/// up to whole bytes.
///
/// ```
/// use ctap_device::parse_report_descriptor;
///
/// // python-fido2's test vector: a FIDO device with 64-byte reports.
/// let descriptor = [
///     0x06, 0xd0, 0xf1, 0x09, 0x01, 0xa1, 0x01, 0x09, 0x20, 0x15, 0x00, 0x26, 0xff, 0x00,
///     0x75, 0x08, 0x95, 0x40, 0x81, 0x02, 0x09, 0x21, 0x15, 0x00, 0x26, 0xff, 0x00, 0x75,
///     0x08, 0x95, 0x40, 0x91, 0x02, 0xc0,
/// ];
/// let info = parse_report_descriptor(&descriptor)?;
/// assert!(info.is_fido);
/// assert_eq!((info.input_report_size, info.output_report_size), (64, 64));
/// # Ok::<(), ctap_device::DescriptorError>(())
/// ```
///
/// # Errors
/// A [`DescriptorError`] for a truncated item, unbalanced collections or Push/Pop, or
/// an overflowing report size. Never panics.
pub fn parse_report_descriptor(descriptor: &[u8]) -> Result<DescriptorInfo, DescriptorError> {
    let mut globals = Globals::default();
    let mut stack: Vec<Globals> = Vec::new();
    // Local items: the usages since the last main item (first one is what counts for a
    // collection).
    let mut first_usage: Option<(Option<u32>, u32)> = None;
    let mut depth = 0usize;
    // Whether the top-level collection we are in is FIDO.
    let mut in_fido = false;
    let mut found_fido = false;
    let (mut fido_in, mut fido_out, mut all_in, mut all_out) = (0u64, 0u64, 0u64, 0u64);

    let mut offset = 0usize;
    while let Some(&prefix) = descriptor.get(offset) {
        let rest = descriptor.get(offset..).unwrap_or_default();
        if prefix == 0xFE {
            // Long item: 0xFE | data size | tag | data. No long item tags are defined;
            // skip it.
            let size = rest.get(1).copied().map_or(0, usize::from);
            let needed = 3 + size;
            if rest.len() < needed {
                return Err(DescriptorError::Truncated {
                    offset,
                    needed,
                    got: rest.len(),
                });
            }
            offset += needed;
            continue;
        }
        let data_len = match prefix & 0x03 {
            0 => 0,
            1 => 1,
            2 => 2,
            _ => 4,
        };
        let Some(data) = rest.get(1..=data_len) else {
            return Err(DescriptorError::Truncated {
                offset,
                needed: 1 + data_len,
                got: rest.len(),
            });
        };
        // Little-endian, unsigned (the values we read are never negative).
        let value = data
            .iter()
            .rev()
            .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
        let item_type = (prefix >> 2) & 0x03;
        let tag = prefix >> 4;
        match (item_type, tag) {
            // Main items.
            (0, 0x8 | 0x9) => {
                let bits = u64::from(globals.report_size)
                    .checked_mul(u64::from(globals.report_count))
                    .ok_or(DescriptorError::Overflow { offset })?;
                let (fido, all) = if tag == 0x8 {
                    (&mut fido_in, &mut all_in)
                } else {
                    (&mut fido_out, &mut all_out)
                };
                *all = all.saturating_add(bits);
                if in_fido {
                    *fido = fido.saturating_add(bits);
                }
                first_usage = None;
            }
            (0, 0xA) => {
                if depth == 0 {
                    let (page, usage) = match first_usage {
                        Some((page, usage)) => (page.unwrap_or(globals.usage_page), usage),
                        None => (globals.usage_page, 0),
                    };
                    in_fido = page == u32::from(FIDO_USAGE_PAGE)
                        && usage == u32::from(FIDO_USAGE_CTAPHID);
                    found_fido |= in_fido;
                }
                depth += 1;
                first_usage = None;
            }
            (0, 0xC) => {
                depth = depth
                    .checked_sub(1)
                    .ok_or(DescriptorError::UnbalancedEndCollection { offset })?;
                if depth == 0 {
                    in_fido = false;
                }
                first_usage = None;
            }
            (0, _) => first_usage = None,
            // Global items.
            (1, 0x0) => globals.usage_page = value,
            (1, 0x7) => globals.report_size = value,
            (1, 0x9) => globals.report_count = value,
            (1, 0xA) => {
                if stack.len() >= MAX_PUSH_DEPTH {
                    return Err(DescriptorError::UnbalancedPush { offset });
                }
                stack.push(globals);
            }
            (1, 0xB) => {
                globals = stack
                    .pop()
                    .ok_or(DescriptorError::UnbalancedPush { offset })?;
            }
            // Local items: Usage.
            // A 4-byte usage is an extended usage (page in the high half).
            (2, 0x0) if first_usage.is_none() => {
                first_usage = Some(if data_len == 4 {
                    (Some(value >> 16), value & 0xFFFF)
                } else {
                    (None, value)
                });
            }
            _ => {}
        }
        offset += 1 + data_len;
    }
    if depth != 0 {
        return Err(DescriptorError::UnclosedCollection { open: depth });
    }
    let (bits_in, bits_out) = if found_fido {
        (fido_in, fido_out)
    } else {
        (all_in, all_out)
    };
    Ok(DescriptorInfo {
        is_fido: found_fido,
        input_report_size: bytes_of(bits_in),
        output_report_size: bytes_of(bits_out),
    })
}

fn bytes_of(bits: u64) -> usize {
    usize::try_from(bits.div_ceil(8)).unwrap_or(usize::MAX)
}

impl fmt::Display for DescriptorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, input reports {} bytes, output reports {} bytes",
            if self.is_fido { "FIDO" } else { "not FIDO" },
            self.input_report_size,
            self.output_report_size
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const PYTHON_FIDO2: &str =
        "06d0f10901a1010920150026ff007508954081020921150026ff00750895409102c0";

    #[test]
    fn python_fido2_vector_is_fido_64_64() {
        let info = parse_report_descriptor(&unhex(PYTHON_FIDO2)).unwrap();
        assert_eq!(
            info,
            DescriptorInfo {
                is_fido: true,
                input_report_size: 64,
                output_report_size: 64
            }
        );
    }

    #[test]
    fn report_count_62_gives_62_byte_reports() {
        let info = parse_report_descriptor(&unhex(&PYTHON_FIDO2.replace("9540", "953e"))).unwrap();
        assert!(info.is_fido);
        assert_eq!((info.input_report_size, info.output_report_size), (62, 62));
    }

    #[test]
    fn input_and_output_sizes_may_differ() {
        // Input count 0x40, output count 0x20.
        let hex = "06d0f10901a1010920150026ff007508954081020921150026ff00750895209102c0";
        let info = parse_report_descriptor(&unhex(hex)).unwrap();
        assert_eq!((info.input_report_size, info.output_report_size), (64, 32));
    }

    #[test]
    fn a_mouse_is_not_fido() {
        // The boot mouse descriptor of HID 1.11 Appendix E.10.
        let mouse = "05010902a1010901a100050919012903150025019503750181029501750581010501093009311581257f750895028106c0c0";
        let info = parse_report_descriptor(&unhex(mouse)).unwrap();
        assert!(!info.is_fido);
        // 3 buttons + 5 padding bits + X + Y = 3 bytes.
        assert_eq!(info.input_report_size, 3);
        assert_eq!(info.output_report_size, 0);
    }

    #[test]
    fn four_byte_items_are_read_whole() {
        // An extended 4-byte Usage F1D0_0001 (page in the high half) with no Usage Page
        // item, and Report Count as a 4-byte item (size code 3).
        let extended = "0b0100d0f1a101\
                        0920 1500 26ff00 7508 9740000000 8102\
                        0921 1500 26ff00 7508 9740000000 9102 c0";
        let info = parse_report_descriptor(&unhex(&squash(extended))).unwrap();
        assert!(info.is_fido);
        assert_eq!((info.input_report_size, info.output_report_size), (64, 64));
        // Usage Page as a 4-byte global item.
        let page4 = "07d0f10000 0901 a101\
                     0920 7508 9540 8102 0921 9102 c0";
        let info = parse_report_descriptor(&unhex(&squash(page4))).unwrap();
        assert!(info.is_fido);
        assert_eq!((info.input_report_size, info.output_report_size), (64, 64));
        // A 4-byte usage whose page is not FIDO is not FIDO, whatever the Usage Page.
        let other = "06d0f1 0b01000100 a101 7508 9540 8102 c0";
        let info = parse_report_descriptor(&unhex(&squash(other))).unwrap();
        assert!(!info.is_fido);
    }

    #[test]
    fn globals_persist_across_main_items_and_push_pop() {
        // Report Size and Count are set once and used by both Input and Output; a
        // Push/Pop around a change must not leak into the Output item.
        let hex = "06d0f1 0901 a101 7508 9540\
                   0920 8102\
                   a4 7501 9501 b4\
                   0921 9102 c0";
        let info = parse_report_descriptor(&unhex(&squash(hex))).unwrap();
        assert!(info.is_fido);
        assert_eq!((info.input_report_size, info.output_report_size), (64, 64));
        // Without the Pop the changed globals apply to the Output item.
        let leaked = "06d0f1 0901 a101 7508 9540 0920 8102 7501 9501 0921 9102 c0";
        let info = parse_report_descriptor(&unhex(&squash(leaked))).unwrap();
        assert_eq!((info.input_report_size, info.output_report_size), (64, 1));
    }

    fn squash(s: &str) -> String {
        s.split_whitespace().collect()
    }

    #[test]
    fn long_items_are_skipped() {
        let hex = format!("fe02aa1122{PYTHON_FIDO2}");
        let info = parse_report_descriptor(&unhex(&hex)).unwrap();
        assert!(info.is_fido);
    }

    #[test]
    fn truncated_and_unbalanced_descriptors_are_errors() {
        let full = unhex(PYTHON_FIDO2);
        // Cut inside the 2-byte usage page item.
        assert_eq!(
            parse_report_descriptor(&full[..2]),
            Err(DescriptorError::Truncated {
                offset: 0,
                needed: 3,
                got: 2
            })
        );
        // Cut at an item boundary before End Collection.
        assert_eq!(
            parse_report_descriptor(&full[..full.len() - 1]),
            Err(DescriptorError::UnclosedCollection { open: 1 })
        );
        assert_eq!(
            parse_report_descriptor(&[0xC0]),
            Err(DescriptorError::UnbalancedEndCollection { offset: 0 })
        );
        assert_eq!(
            parse_report_descriptor(&[0xB4]),
            Err(DescriptorError::UnbalancedPush { offset: 0 })
        );
        assert!(matches!(
            parse_report_descriptor(&[0xFE, 0x05, 0x00, 0x01]),
            Err(DescriptorError::Truncated { offset: 0, .. })
        ));
        // Every prefix of the vector parses or errors, never panics.
        for len in 0..full.len() {
            let _ = parse_report_descriptor(&full[..len]);
        }
    }
}
