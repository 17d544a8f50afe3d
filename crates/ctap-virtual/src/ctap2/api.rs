//! The CTAP2 side of [`Authenticator`]'s public API: power cycles, a preset PIN, the
//! persistent state and its file.

use std::time::Instant;

use ctap_types::{ChannelId, StatusCode};
use ctap2_proto::Info;

use super::state::{State, StateError, StateFile};
use super::token::Transport;
use crate::Authenticator;

impl Authenticator {
    /// The authenticator is powered up (plugged in) at `now`: PIN tokens, the key
    /// agreement key, the per-power-cycle count of wrong PINs and pending getNextAssertion
    /// or enumerations are lost, and the authenticatorReset window (see
    /// [`Config::reset_window`](crate::Config::reset_window)) starts. Without a call the
    /// first CTAP2 command counts as power-up.
    pub fn power_up(&mut self, now: Instant) {
        self.ctap2_parts().0.power_up(now);
    }

    /// Tells the authenticator that the host on CTAPHID channel `channel` reaches it
    /// over `transport` (every channel is [`Transport::Usb`] until told otherwise). A
    /// pinUvAuthToken issued to that host gets the transport's initial usage time limit
    /// (CTAP 2.1 §6.5.2.1: 30 s over USB, 19.8 s over NFC), which is also how long a
    /// token from built-in UV stands for the user's presence. The mark lasts until the
    /// next power cycle; the [`NfcApplet`](crate::NfcApplet) sets it on its channel
    /// before each call.
    pub fn set_channel_transport(&mut self, channel: ChannelId, transport: Transport) {
        self.ctap2_parts().0.set_transport(channel, transport);
    }

    /// The transport [`set_channel_transport`](Self::set_channel_transport) recorded
    /// for `channel` ([`Transport::Usb`] if none).
    #[must_use]
    pub fn channel_transport(&self, channel: ChannelId) -> Transport {
        self.ctap2_ref().0.transport(channel)
    }

    /// Sets the PIN directly, as if by the user at the factory (`ctap serve --pin`).
    ///
    /// # Errors
    /// `PIN_POLICY_VIOLATION` when it is shorter than the minimum PIN length (4 code
    /// points by default) or longer than 63 bytes.
    pub fn set_pin(&mut self, pin: &str) -> Result<(), StatusCode> {
        let ctap2 = self.ctap2_parts().0;
        let result = ctap2.set_pin(pin);
        let saved = ctap2.persist();
        result.and(saved)
    }

    /// What authenticatorGetInfo answers now.
    #[must_use]
    pub fn info(&self) -> Info {
        let (ctap2, config) = self.ctap2_ref();
        ctap2.info(config)
    }

    /// The number of discoverable credentials stored.
    #[must_use]
    pub fn discoverable_credentials(&self) -> usize {
        self.ctap2_ref().0.state.credentials.len()
    }

    /// The PIN retry counter.
    #[must_use]
    pub fn pin_retries(&self) -> u8 {
        self.ctap2_ref().0.state.pin_retries
    }

    /// The persistent state in its file format (credentials, PIN, counters, settings).
    #[must_use]
    pub fn state_bytes(&self) -> Vec<u8> {
        self.ctap2_ref().0.state.to_file_bytes()
    }

    /// Replaces the persistent state with `bytes` (from [`state_bytes`](Self::state_bytes)).
    ///
    /// # Errors
    /// What is wrong with the bytes; the state is then unchanged.
    pub fn load_state(&mut self, bytes: &[u8]) -> Result<(), String> {
        let state = State::from_file_bytes(bytes)?;
        self.ctap2_parts().0.load(state);
        Ok(())
    }

    /// Calls `sink` with the new state bytes after every command that changed the
    /// persistent state (the seam for persistence; see
    /// [`use_state_file`](Self::use_state_file)). The signature counter is saved in
    /// blocks: the bytes carry a counter value reserved ahead, so `sink` runs once per
    /// [`Config::sign_count_block`](crate::Config::sign_count_block) assertions (1024
    /// by default) rather than once per assertion (README "State").
    pub fn on_state_change(&mut self, mut sink: impl FnMut(&[u8]) + Send + 'static) {
        self.save_state_with(move |bytes| {
            sink(bytes);
            Ok(())
        });
    }

    /// As [`on_state_change`](Self::on_state_change), for storage that can fail: when
    /// `save` returns an error, the command whose change it was answers
    /// `CTAP1_ERR_OTHER` (U2F: status word 6F00) instead of its result, so a counter
    /// value, credential or PIN retry that is not durable is never acted on by the
    /// host; the next command tries the save again (issue 22: the state fails closed).
    pub fn save_state_with(
        &mut self,
        save: impl FnMut(&[u8]) -> std::io::Result<()> + Send + 'static,
    ) {
        self.ctap2_parts().0.set_sink(Some(Box::new(save)));
    }

    /// Keeps the state in `file`: loads it when it exists (a corrupt file is refused
    /// and left untouched), otherwise writes the current state there; from then on
    /// every change replaces the file atomically. A failed save is logged, the previous
    /// file stays intact and the command answers `CTAP1_ERR_OTHER` (see
    /// [`save_state_with`](Self::save_state_with)).
    ///
    /// # Errors
    /// The file cannot be read, is corrupt, is readable or writable by group or others,
    /// is a symbolic link, or cannot be created ([`StateError`] says which).
    pub fn use_state_file(&mut self, file: StateFile) -> Result<(), StateError> {
        match file.load()? {
            Some(bytes) => {
                self.load_state(&bytes)
                    .map_err(|reason| StateError::Corrupt {
                        path: file.path().to_path_buf(),
                        reason,
                    })?;
            }
            None => file.save(&self.state_bytes())?,
        }
        self.save_state_with(move |bytes| {
            file.save(bytes).map_err(|error| {
                log::error!("{error}");
                std::io::Error::other(error)
            })
        });
        Ok(())
    }
}
