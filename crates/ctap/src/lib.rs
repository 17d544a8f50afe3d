//! CTAP over USB HID for Rust: the umbrella crate of the ctap stack (types, framing, devices, a software authenticator).
