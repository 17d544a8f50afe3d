//! The channel table under a test farm: many hosts at once keep their channels
//! (CTAP 2.1 §11.2.4), and only a full table gives up one, the least recently used idle
//! one. Each host is a `CtapHidDevice` on its own connection (as python-fido2 hosts
//! each open the device); a host whose channel was forgotten would have to INIT again
//! (`CtapHidDevice` does so on INVALID_CHANNEL), which `channels_allocated` counts.

use ctap_virtual::{Config, DEFAULT_CHANNELS, VirtualAuthenticator};

#[test]
fn two_hundred_fifty_six_concurrent_hosts_keep_their_channels_by_default() {
    // 50 concurrent python-fido2 hosts lost 18 channels to INVALID_CHANNEL with a
    // table of 32; the default holds 256.
    const _: () = assert!(DEFAULT_CHANNELS >= 256);
    let authenticator = VirtualAuthenticator::new(Config::default());
    let mut hosts: Vec<_> = (0..256)
        .map(|_| authenticator.open_device().unwrap())
        .collect();
    let channels: Vec<_> = hosts.iter().map(|host| host.channel_id()).collect();
    for host in &mut hosts {
        assert_eq!(host.ping(b"still mine").unwrap(), b"still mine");
    }
    let now: Vec<_> = hosts.iter().map(|host| host.channel_id()).collect();
    let moved = now.iter().zip(&channels).filter(|(a, b)| a != b).count();
    assert_eq!(moved, 0, "hosts that had to allocate a new channel");
    assert_eq!(authenticator.stats().channels_allocated, 256);

    // Full: the 257th host takes the least recently used channel, host 0's (every
    // other host pinged after it), and only that one.
    let _newcomer = authenticator.open_device().unwrap();
    let kept = authenticator.with_device(|device| device.channels().collect::<Vec<_>>());
    assert_eq!(kept.len(), 256);
    assert!(!kept.contains(&channels[0]));
    assert!(channels[1..].iter().all(|cid| kept.contains(cid)));
}
