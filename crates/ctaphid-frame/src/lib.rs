//! # ctaphid-frame
//!
//! The framing layer of the `ctap` stack: splits CTAPHID messages into HID reports and
//! puts them back together. It knows nothing of HID devices, threads, clocks or
//! allocators: callers own every buffer and pass every report in, so the same code runs
//! on a host (over hidapi) and in authenticator firmware (`#![no_std]`, no allocator).
//!
//! - [`Packetizer`]: borrows a payload and writes one report at a time into the
//!   caller's buffer (or iterates [`Report`]s). Knows its report count up front; refuses
//!   payloads over the maximum.
//! - [`Reassembler`]: fed one report at a time, over a [`MessageBuffer`] the caller
//!   chooses (`[u8; N]`, `&mut [u8]`; `Vec<u8>` with `alloc`; `BytesMut` with `bytes`).
//!   Says [`Feed::NeedMore`], [`Feed::Complete`] (a view of the buffer),
//!   [`Feed::OtherChannel`], or a typed [`FrameError`] that maps to the CTAPHID error
//!   code a device answers with.
//! - [`Packet`]: a zero-copy view of one report's header, for dissectors.
//!
//! Each payload byte is copied exactly once on each side, and nothing allocates.
//!
//! ```text
//! init packet          CID (4, BE) | CMD | 0x80 (1) | BCNT (2, BE) | DATA (S-7)
//! continuation packet  CID (4, BE) | SEQ (1, 0..=0x7F)             | DATA (S-5)
//! max message          (S-7) + 128 * (S-5)  = 7609 bytes for S = 64
//! ```
//!
//! ```
//! use ctap_types::{ChannelId, Command};
//! use ctaphid_frame::{Feed, Packetizer, Reassembler, ReassemblerConfig, ReportSize};
//!
//! let cid = ChannelId::new(0x01020304);
//! let size = ReportSize::FULL_SPEED;
//!
//! // authenticatorGetInfo in one packet: 01020304 90 0001 04, zero padded.
//! let mut report = [0u8; 64];
//! let mut packetizer = Packetizer::new(cid, Command::CBOR, &[0x04], size)?;
//! assert_eq!(packetizer.write_next(&mut report)?, Some(64));
//! assert_eq!(report[..8], [0x01, 0x02, 0x03, 0x04, 0x90, 0x00, 0x01, 0x04]);
//! assert!(report[8..].iter().all(|&b| b == 0));
//!
//! // A device (firmware) reassembles into a fixed array.
//! let mut reassembler = Reassembler::new([0u8; 7609], ReassemblerConfig::new(size));
//! match reassembler.feed(&report)? {
//!     Feed::Complete(message) => {
//!         assert_eq!((message.cid, message.command, message.payload), (cid, Command::CBOR, &[0x04][..]));
//!     }
//!     other => panic!("expected a complete message, got {other:?}"),
//! }
//! # Ok::<(), ctaphid_frame::FrameError>(())
//! ```
//!
//! ## Features
//! - `alloc`: [`MessageBuffer`] for `Vec<u8>` and `Box<[u8]>`.
//! - `bytes`: `Reassembler::feed_bytes` splits complete messages off a `BytesMut` as
//!   `Bytes`, without a copy.
//! - `defmt`: `defmt::Format` for the public types.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

#[cfg(feature = "alloc")]
extern crate alloc;

mod buffer;
mod error;
mod packet;
mod packetizer;
mod reassembler;
mod report_size;

pub use buffer::MessageBuffer;
pub use error::FrameError;
pub use packet::Packet;
pub use packetizer::{Packetizer, Report};
pub use reassembler::{Feed, InitOnBusy, Message, Pending, Reassembler, ReassemblerConfig};
#[cfg(feature = "bytes")]
pub use reassembler::{FeedBytes, OwnedMessage};
pub use report_size::{
    CONT_HEADER_LEN, INIT_HEADER_LEN, MAX_CONTINUATIONS, MAX_MESSAGE_LEN, MAX_REPORT_SIZE, MAX_SEQ,
    MIN_REPORT_SIZE, ReportSize, cont_capacity, init_capacity, max_message_len,
};
