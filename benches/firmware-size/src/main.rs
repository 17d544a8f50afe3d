//! A minimal authenticator-like firmware, built twice by `cargo xtask size` so the
//! difference between the two ELF files is what `ctaphid-frame` + `ctap-types` cost a
//! firmware in flash and RAM.
//!
//! - With the `ctap` feature: the HID loop of an authenticator. Reports are reassembled
//!   into one static message buffer of 7609 bytes (the CTAPHID maximum at 64-byte
//!   reports); PING is echoed, INIT allocates a channel and answers with an
//!   `InitResponse`, WINK and CANCEL are handled, CBOR gets a KEEPALIVE then a CTAP
//!   status, unknown commands and framing errors get a CTAPHID ERROR with its
//!   `HidErrorCode`, a busy device answers CHANNEL_BUSY, and a message time-out aborts
//!   the incomplete message with MSG_TIMEOUT.
//! - Without it: the same loop, but each report is only copied back.
//!
//! It is measured, never flashed: the "peripheral" is a static read through
//! [`black_box`], and sent reports go to [`black_box`], so the optimiser can neither
//! see constant input nor drop the work done on it.
#![no_std]
#![no_main]

use core::hint::black_box;
use core::panic::PanicInfo;

/// A full-speed USB HID report.
const REPORT_LEN: usize = 64;

/// The fake HID OUT endpoint the loop reads reports from (the same in both builds).
static RX_ENDPOINT: [u8; REPORT_LEN] = [0; REPORT_LEN];

/// Reads the next report from the "peripheral". `black_box` hides where the bytes come
/// from, so the code after it must handle any report.
fn receive_report() -> [u8; REPORT_LEN] {
    *black_box(&RX_ENDPOINT)
}

/// Hands a report to the "peripheral". `black_box` makes the bytes escape, so they must
/// be computed.
fn send_report(report: &[u8; REPORT_LEN]) {
    black_box(report);
}

/// The reset handler, the linker script's `ENTRY`.
///
/// `no_mangle` is the one unsafe attribute the binary needs: without an unmangled symbol
/// the linker has no entry point and keeps nothing.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    app::run()
}

/// With `panic = "abort"` and no formatting, a panic costs one branch to here (it never
/// happens: the framing crates are panic-free on any input).
#[panic_handler]
fn panic(_info: &PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

#[cfg(all(not(feature = "ctap"), not(feature = "sign")))]
mod app {
    use super::{receive_report, send_report};

    /// The skeleton without framing: every report is echoed as it came.
    pub(crate) fn run() -> ! {
        loop {
            let report = receive_report();
            send_report(&report);
        }
    }
}

#[cfg(all(feature = "ctap", not(feature = "sign")))]
mod app {
    use core::hint::black_box;
    use core::mem::MaybeUninit;

    use ctap_types::{
        CTAPHID_PROTOCOL_VERSION, Capabilities, ChannelId, Command, Ctap2Command, DeviceVersion,
        HidErrorCode, INIT_NONCE_LEN, InitResponse, KeepaliveStatus, StatusCode,
    };
    use ctaphid_frame::{
        Feed, MAX_MESSAGE_LEN, Message, Packetizer, Reassembler, ReassemblerConfig, ReportSize,
    };

    use super::{REPORT_LEN, receive_report, send_report};

    /// Everything the authenticator keeps between reports, besides the message buffer.
    struct Authenticator {
        reassembler: Reassembler<&'static mut [u8; MAX_MESSAGE_LEN]>,
        /// The last channel id INIT handed out.
        last_cid: u32,
    }

    /// The HID loop of an authenticator.
    pub(crate) fn run() -> ! {
        // The state lives in statics, as in a firmware, so the ELF's .bss shows the RAM
        // it takes: one message buffer plus the authenticator's state. The state is
        // initialised at run time (`MaybeUninit`, like an RTIC late resource): an
        // `Option` would put its padding in .data and cost its initial value in flash.
        static mut MESSAGE_BUFFER: [u8; MAX_MESSAGE_LEN] = [0; MAX_MESSAGE_LEN];
        static mut AUTHENTICATOR: MaybeUninit<Authenticator> = MaybeUninit::uninit();
        let buffer = &raw mut MESSAGE_BUFFER;
        let slot = &raw mut AUTHENTICATOR;
        // SAFETY: `run` is entered once, from the reset handler, and never returns, so
        // these are the only references to the two statics ever made. This is what
        // cortex-m-rt's `#[entry]` does with `static mut` items, written out.
        let (buffer, slot) = unsafe { (&mut *buffer, &mut *slot) };
        let auth = slot.write(Authenticator {
            reassembler: Reassembler::new(buffer, ReassemblerConfig::new(ReportSize::FULL_SPEED)),
            last_cid: 0,
        });

        loop {
            if timer_expired() {
                if let Some(pending) = auth.reassembler.abort() {
                    send_error(pending.cid, HidErrorCode::MSG_TIMEOUT);
                }
            }
            let report = receive_report();
            match auth.reassembler.feed(&report) {
                Ok(Feed::NeedMore(pending)) => {
                    if pending.started {
                        start_timer();
                    }
                }
                Ok(Feed::Complete(message)) => handle(message, &mut auth.last_cid),
                // Busy with another channel's message: refuse new ones, ignore the rest.
                Ok(Feed::OtherChannel {
                    cid,
                    command: Some(_),
                }) => send_error(cid, HidErrorCode::CHANNEL_BUSY),
                Ok(Feed::OtherChannel { command: None, .. }) => {}
                Err(error) => {
                    if let Some(cid) = error.cid() {
                        send_error(cid, error.hid_error_code());
                    }
                }
            }
        }
    }

    /// Answers one complete message.
    fn handle(message: Message<'_>, last_cid: &mut u32) {
        let Message {
            cid,
            command,
            payload,
        } = message;
        if cid.is_broadcast() && command != Command::INIT {
            return send_error(cid, HidErrorCode::INVALID_CHANNEL);
        }
        match command {
            Command::PING => send(cid, command, payload),
            Command::INIT => {
                let Ok(nonce) = <[u8; INIT_NONCE_LEN]>::try_from(payload) else {
                    return send_error(cid, HidErrorCode::INVALID_LEN);
                };
                let granted = if cid.is_broadcast() {
                    allocate_channel(last_cid)
                } else {
                    // INIT on an allocated channel resynchronises it.
                    cid
                };
                let response = InitResponse {
                    nonce,
                    cid: granted,
                    protocol_version: CTAPHID_PROTOCOL_VERSION,
                    device_version: DeviceVersion {
                        major: 1,
                        minor: 0,
                        build: 0,
                    },
                    capabilities: Capabilities::WINK | Capabilities::CBOR | Capabilities::NMSG,
                };
                send(cid, command, &response.to_bytes());
            }
            Command::WINK => send(cid, command, &[]),
            Command::CBOR => {
                send(
                    cid,
                    Command::KEEPALIVE,
                    &[KeepaliveStatus::PROCESSING.to_u8()],
                );
                // The CTAP2 layer is not part of what is measured: every command is
                // answered with a status byte.
                let status = match payload.first().copied().map(Ctap2Command::new) {
                    None => StatusCode::INVALID_LENGTH,
                    Some(Ctap2Command::GET_INFO) => StatusCode::SUCCESS,
                    Some(_) => StatusCode::INVALID_COMMAND,
                };
                send(cid, command, &[status.to_u8()]);
            }
            // Nothing is pending by the time a whole message has been answered.
            Command::CANCEL => {}
            _ => send_error(cid, HidErrorCode::INVALID_CMD),
        }
    }

    /// The next channel id that is neither reserved (0) nor broadcast.
    fn allocate_channel(last_cid: &mut u32) -> ChannelId {
        loop {
            *last_cid = last_cid.wrapping_add(1);
            let cid = ChannelId::new(*last_cid);
            if cid.is_allocatable() {
                return cid;
            }
        }
    }

    /// Sends a CTAPHID ERROR message.
    fn send_error(cid: ChannelId, code: HidErrorCode) {
        send(cid, Command::ERROR, &[code.to_u8()]);
    }

    /// Sends one message, report by report.
    fn send(cid: ChannelId, command: Command, payload: &[u8]) {
        // Every payload here fits (at most one message buffer), so `new` cannot fail.
        let Ok(mut packetizer) = Packetizer::new(cid, command, payload, ReportSize::FULL_SPEED)
        else {
            return;
        };
        let mut report = [0u8; REPORT_LEN];
        while let Ok(Some(_)) = packetizer.write_next(&mut report) {
            send_report(&report);
        }
    }

    /// The message time-out (CTAPHID: the rest of a message must follow in time). The
    /// timer is a stand-in the optimiser cannot see through.
    fn timer_expired() -> bool {
        black_box(false)
    }

    /// Starts the message time-out.
    fn start_timer() {
        black_box(());
    }
}

/// With `sign`: each report is signed with ES256 and with EdDSA, and the signatures are
/// sent, at the settings the features choose (README, "Signing"). The keys come from a
/// static through `black_box`, like the reports.
#[cfg(feature = "sign")]
mod app {
    use core::hint::black_box;

    use super::{REPORT_LEN, receive_report, send_report};

    /// The fake key store.
    static KEY_SEED: [u8; 32] = [0x42; 32];

    pub(crate) fn run() -> ! {
        loop {
            let report = receive_report();
            let seed = *black_box(&KEY_SEED);
            if let Ok(key) = p256::ecdsa::SigningKey::from_slice(&seed) {
                use p256::ecdsa::signature::Signer as _;
                let signature: p256::ecdsa::Signature = key.sign(&report);
                send(&signature.to_bytes());
            }
            let key = ed25519_dalek::SigningKey::from_bytes(&seed);
            {
                use ed25519_dalek::Signer as _;
                send(&key.sign(&report).to_bytes());
            }
        }
    }

    /// Sends a 64-byte signature as one report.
    fn send(signature: &[u8]) {
        let mut report = [0u8; REPORT_LEN];
        for (out, byte) in report.iter_mut().zip(signature) {
            *out = *byte;
        }
        send_report(&report);
    }
}

/// The once-cell of p256's tables needs a critical section on a target without std; a
/// real firmware takes cortex-m's (interrupts off). This binary is measured, never run,
/// so a no-op stands in for it.
#[cfg(feature = "sign-p256-tables")]
mod critical {
    struct NoInterrupts;
    critical_section::set_impl!(NoInterrupts);
    // SAFETY: the binary is never run (it is built to be measured); on one core without
    // interrupts, which is all this binary models, there is nothing to exclude.
    unsafe impl critical_section::Impl for NoInterrupts {
        unsafe fn acquire() -> critical_section::RawRestoreState {}
        unsafe fn release(_state: critical_section::RawRestoreState) {}
    }
}
