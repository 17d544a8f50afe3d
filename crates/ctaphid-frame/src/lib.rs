#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

#[cfg(feature = "alloc")]
extern crate alloc;

mod buffer;
mod copy;
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
