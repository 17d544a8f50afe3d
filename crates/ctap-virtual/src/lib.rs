//! A software CTAPHID authenticator: a sans-IO device state machine, served in-process or over UDP.
