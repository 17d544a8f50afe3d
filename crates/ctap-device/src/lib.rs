//! The CtapDevice trait and CtapHidDevice over hidapi, UDP and in-process transports.
