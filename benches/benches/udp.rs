//! PING over UDP loopback: `CtapHidDevice` over `UdpConnection` against
//! `ctap_virtual::UdpServer` (the stack `ctap --device udp:...` and `ctap serve --udp`
//! use), next to a raw-socket echo of the same datagrams in the same group.
//!
//! Group `udp`, for PING of 57, 1024 and 7609 bytes (1, 18 and 129 reports of 64
//! bytes each way):
//! - `ping/<n>`: the whole call: the drain before the request, packetizing, one
//!   datagram per report each way, the server's reassembly and answer, the host's
//!   reassembly;
//! - `echo/<n>`: the floor: the same number of 64-byte datagrams sent back to back on
//!   a connected socket to a thread that echoes each one, and all of them read back.
//!   No framing, no device: what the kernel and two thread wake-ups cost.
//!
//! Run: `cargo bench -p ctap-benches --bench udp`.

use std::hint::black_box;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ctap_benches::payload;
use ctap_device::udp;
use ctap_virtual::{Config, UdpServer};
use ctaphid_frame::ReportSize;

/// The PING sizes: one report, a typical CBOR request, the longest message.
const SIZES: [usize; 3] = [57, 1024, 7609];

/// A thread that sends every datagram back to where it came from, until dropped.
struct Echo {
    socket: UdpSocket,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Echo {
    fn start() -> Self {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        udp::enlarge_buffers(&server);
        server
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap_or_else(|e| panic!("{e}"));
        let client = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        udp::enlarge_buffers(&client);
        client
            .connect(server.local_addr().unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("connect: {e}"));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut buf = [0u8; 64];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((len, peer)) = server.recv_from(&mut buf) {
                        let _ = server.send_to(buf.get(..len).unwrap_or_default(), peer);
                    }
                }
            })
        };
        Self {
            socket: client,
            stop,
            thread: Some(thread),
        }
    }

    /// Sends `reports` datagrams back to back, then reads as many back.
    fn round_trip(&self, reports: usize, buf: &mut [u8; 64]) -> u8 {
        let datagram = [0x5A_u8; 64];
        for _ in 0..reports {
            self.socket
                .send(black_box(&datagram))
                .unwrap_or_else(|e| panic!("send: {e}"));
        }
        let mut last = 0;
        for _ in 0..reports {
            self.socket
                .recv(buf)
                .unwrap_or_else(|e| panic!("recv: {e}"));
            last = buf[63];
        }
        last
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn udp_ping(c: &mut Criterion) {
    let server = UdpServer::bind("127.0.0.1:0", Config::default())
        .and_then(UdpServer::spawn)
        .unwrap_or_else(|e| panic!("server: {e}"));
    let mut device = udp::open(server.local_addr()).unwrap_or_else(|e| panic!("open: {e}"));
    let echo = Echo::start();
    let mut buf = [0u8; 64];
    let mut group = c.benchmark_group("udp");
    for n in SIZES {
        let request = payload(n);
        let reports = ReportSize::FULL_SPEED.report_count(n);
        group.throughput(Throughput::Bytes(2 * n as u64));
        group.bench_function(BenchmarkId::new("ping", n), |b| {
            b.iter(|| {
                let echo = device
                    .ping(black_box(&request))
                    .unwrap_or_else(|e| panic!("ping {n}: {e}"));
                debug_assert_eq!(echo.len(), n);
                echo
            });
        });
        group.bench_function(BenchmarkId::new("echo", n), |b| {
            b.iter(|| echo.round_trip(black_box(reports), &mut buf));
        });
    }
    group.finish();
    drop(device);
    drop(server);
}

criterion_group!(benches, udp_ping);
criterion_main!(benches);
