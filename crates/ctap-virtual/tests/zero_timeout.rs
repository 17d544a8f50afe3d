//! The in-process connection never sleeps to poll: a zero time-out read returns at once.

use std::time::{Duration, Instant};

use ctap_device::HidConnection;
use ctap_virtual::{Config, VirtualAuthenticator};

#[test]
fn zero_time_out_reads_of_the_in_process_connection_do_not_wait() {
    let authenticator = VirtualAuthenticator::new(Config::default());
    let mut connection = authenticator.connect();
    let mut buf = [0u8; 64];
    let start = Instant::now();
    for _ in 0..1000 {
        assert_eq!(
            connection.read_report(&mut buf, Duration::ZERO).unwrap(),
            None
        );
    }
    let took = start.elapsed();
    assert!(
        took < Duration::from_millis(300),
        "1000 empty reads took {took:?}"
    );
}
