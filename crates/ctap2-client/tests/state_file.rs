//! The software authenticator's persistent state, seen from a client: the signature
//! counter across crashes (issue 27), a state that cannot be saved (issue 22, fail
//! closed), and state files that were rolled back, edited, truncated or belong to
//! another authenticator (issue 22, "The state file is a private key").

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ctap_device::CallOptions;
use ctap_types::StatusCode;
use ctap_virtual::{Config, StateError, StateFile, VirtualAuthenticator, VirtualConnection};
use ctap2_client::proto::{Algorithm, RpEntity, UserEntity};
use ctap2_client::{Ctap2, get_assertion_request, make_credential_request};

type Device = ctap_device::CtapHidDevice<VirtualConnection>;

const RP: &str = "example.com";

fn connect(authenticator: &VirtualAuthenticator) -> Ctap2<Device> {
    Ctap2::new(authenticator.open_device().unwrap())
        .unwrap()
        .with_timeout(Some(Duration::from_secs(20)))
}

/// Counter values reserved per save in these tests (the default is 1024; a small block
/// keeps the debug-build loops short while crossing many block boundaries).
const BLOCK: u32 = 16;

fn seeded(seed: u8) -> VirtualAuthenticator {
    VirtualAuthenticator::new(
        Config::default()
            .with_rng_seed(Some([seed; 32]))
            .with_sign_count_block(BLOCK),
    )
}

/// Registers a non-discoverable ES256 credential: its id and public key.
fn register(ctap: &mut Ctap2<Device>) -> (Vec<u8>, ctap2_client::proto::cose::CoseKey) {
    let rp = RpEntity {
        icon: None,
        id: RP.into(),
        name: None,
    };
    let user = UserEntity {
        icon: None,
        id: vec![1; 8],
        name: Some("user".into()),
        display_name: None,
    };
    let request = make_credential_request([1; 32], rp, user, &[Algorithm::ES256]);
    let attestation = ctap
        .make_credential(&request, CallOptions::default())
        .unwrap();
    let credential = attestation.credential().unwrap().clone();
    (credential.credential_id, credential.public_key)
}

/// One assertion with `id`: its verified signature counter, or the status it failed with.
fn assert_once(
    ctap: &mut Ctap2<Device>,
    id: &[u8],
    key: &ctap2_client::proto::cose::CoseKey,
) -> Result<u32, StatusCode> {
    let cdh = [0x5C; 32];
    let request = get_assertion_request(RP, cdh, std::slice::from_ref(&id.to_vec()));
    match ctap.get_assertion(&request, CallOptions::default()) {
        Ok(assertion) => {
            assertion.verify(RP, &cdh, key).unwrap();
            Ok(assertion.auth_data.sign_count)
        }
        Err(error) => Err(error.status().unwrap()),
    }
}

/// A disk that keeps the last bytes written whole, and fails every write from the
/// `fail_from`-th on (a full disk, a yanked USB stick, a process killed mid-save).
#[derive(Default)]
struct Disk {
    durable: Option<Vec<u8>>,
    writes: usize,
    fail_from: Option<usize>,
}

fn attach(authenticator: &VirtualAuthenticator, disk: &Arc<Mutex<Disk>>) {
    let disk = Arc::clone(disk);
    authenticator.with_device(|device| {
        device.save_state_with(move |bytes| {
            let mut disk = disk.lock().unwrap();
            if disk.fail_from.is_some_and(|n| disk.writes >= n) {
                return Err(std::io::Error::other("simulated: no space left on device"));
            }
            disk.writes += 1;
            disk.durable = Some(bytes.to_vec());
            Ok(())
        });
    });
}

/// A new authenticator process started from what was on disk.
fn restart(bytes: &[u8]) -> VirtualAuthenticator {
    let authenticator = seeded(0xEE);
    authenticator
        .with_device(|device| device.load_state(bytes))
        .unwrap();
    authenticator
}

/// Issue 27: the counter is not saved on every assertion, yet a crash at any point
/// never makes it go backwards. After the registration's save (which reserves values
/// up to 16), 100 assertions (counters 2..=101) write the state 6 times (at 17, 33,
/// 49, 65, 81 and 97), not 100 times. A kill between any two
/// steps leaves on disk what the last save wrote; the test restarts from every state
/// the disk went through, and the restarted authenticator's next counter must exceed
/// every counter that was released while that state was the one on disk.
#[test]
fn the_counter_is_saved_per_block_and_never_goes_back_after_a_crash_anywhere() {
    let authenticator = seeded(1);
    let disk = Arc::new(Mutex::new(Disk::default()));
    attach(&authenticator, &disk);
    let mut ctap = connect(&authenticator);
    let (id, key) = register(&mut ctap);
    let writes_after_register = disk.lock().unwrap().writes;
    // (bytes on disk, the highest counter released while they were the latest)
    let mut epochs: Vec<(Vec<u8>, u32)> = Vec::new();
    let mut last = 0;
    for _ in 0..100 {
        let count = assert_once(&mut ctap, &id, &key).unwrap();
        assert!(count > last, "{count} after {last}");
        last = count;
        let durable = disk.lock().unwrap().durable.clone().unwrap();
        match epochs.last_mut() {
            Some((bytes, high)) if *bytes == durable => *high = count,
            _ => epochs.push((durable, count)),
        }
    }
    let writes = disk.lock().unwrap().writes - writes_after_register;
    assert_eq!(writes, 6, "100 assertions: one save per block of {BLOCK}");
    assert_eq!(epochs.len(), 7);
    for (bytes, high) in &epochs {
        let restarted = restart(bytes);
        let mut ctap = connect(&restarted);
        let count = assert_once(&mut ctap, &id, &key).unwrap();
        assert!(
            count > *high,
            "after a crash the counter went back: {count} <= {high}"
        );
    }
}

/// Issue 22 "If the state cannot be saved ... fails closed", issue 27 "never going
/// backwards": when the save that would reserve the next block fails, the assertion
/// that needed it is refused (CTAP1_ERR_OTHER) instead of releasing a counter value
/// the disk does not cover; a restart from the disk then continues above every value
/// released. Once the disk works again, assertions go on.
#[test]
fn an_assertion_whose_counter_cannot_be_saved_is_refused() {
    let authenticator = seeded(2);
    let disk = Arc::new(Mutex::new(Disk::default()));
    attach(&authenticator, &disk);
    let mut ctap = connect(&authenticator);
    let (id, key) = register(&mut ctap);
    // The registration's save reserved values up to 16; the save that would reserve
    // the next block fails.
    let writes = disk.lock().unwrap().writes;
    disk.lock().unwrap().fail_from = Some(writes);
    let mut released = Vec::new();
    let mut refused = 0;
    for _ in 0..30 {
        match assert_once(&mut ctap, &id, &key) {
            Ok(count) => released.push(count),
            Err(status) => {
                assert_eq!(status, StatusCode::OTHER);
                refused += 1;
            }
        }
    }
    assert_eq!(released.len(), 15, "2..=16: the block the disk covers");
    assert_eq!(refused, 15);
    let high = *released.iter().max().unwrap();
    let on_disk = disk.lock().unwrap().durable.clone().unwrap();
    let mut restarted = connect(&restart(&on_disk));
    assert!(assert_once(&mut restarted, &id, &key).unwrap() > high);
    // The disk works again: the next assertion saves and succeeds.
    disk.lock().unwrap().fail_from = None;
    assert!(assert_once(&mut ctap, &id, &key).unwrap() > high);
}

/// A fresh folder under the temporary directory, removed by the guard.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "ctap2-client-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn use_file(
    authenticator: &VirtualAuthenticator,
    path: &std::path::Path,
) -> Result<(), StateError> {
    authenticator.with_device(|device| device.use_state_file(StateFile::new(path)))
}

/// Issue 22 rollback and tamper cases, each refused or handled as SECURITY.md says,
/// never a panic:
/// - truncated at any length, or with any byte edited: refused as corrupt, the file
///   left as it was, the authenticator not started on it;
/// - an older copy of its own file: accepted (nothing inside a file can tell an old
///   copy from the latest one): the counter restarts from the copy's reserved ceiling,
///   which is below values already released (the documented limit);
/// - another authenticator's file: accepted, and this process *is* that
///   authenticator from then on: its credentials work, the previous ones do not.
#[test]
fn rolled_back_edited_truncated_and_foreign_state_files() {
    let dir = TempDir::new("tamper");
    let path = dir.0.join("state");
    let first = seeded(3);
    use_file(&first, &path).unwrap();
    let mut ctap = connect(&first);
    let (id, key) = register(&mut ctap);
    let first_count = assert_once(&mut ctap, &id, &key).unwrap();
    let older = std::fs::read(&path).unwrap();
    // Use up the first block: the file moves on.
    let mut last = first_count;
    for _ in 0..30 {
        last = assert_once(&mut ctap, &id, &key).unwrap();
    }
    let latest = std::fs::read(&path).unwrap();
    assert_ne!(older, latest);

    // Truncated and edited copies: refused, untouched, no panic.
    let step = (latest.len() / 40).max(1);
    for len in (0..latest.len()).step_by(step) {
        std::fs::write(&path, &latest[..len]).unwrap();
        let error = use_file(&seeded(4), &path).unwrap_err();
        assert!(
            matches!(error, StateError::Corrupt { .. }),
            "{len}: {error}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), &latest[..len]);
    }
    for at in (0..latest.len()).step_by(step) {
        let mut edited = latest.clone();
        edited[at] ^= 0x20;
        std::fs::write(&path, &edited).unwrap();
        let error = use_file(&seeded(4), &path).unwrap_err();
        assert!(matches!(error, StateError::Corrupt { .. }), "{at}: {error}");
    }

    // An older copy: accepted; the counter restarts from that copy's ceiling.
    std::fs::write(&path, &older).unwrap();
    let rolled_back = seeded(5);
    use_file(&rolled_back, &path).unwrap();
    let count = assert_once(&mut connect(&rolled_back), &id, &key).unwrap();
    assert!(count > first_count, "above what the copy covered");
    assert!(
        count <= last,
        "below values already released: the documented limit"
    );

    // Another authenticator's file: this process becomes that authenticator.
    let other_path = dir.0.join("other");
    let other = seeded(6);
    use_file(&other, &other_path).unwrap();
    let mut other_ctap = connect(&other);
    let (other_id, other_key) = register(&mut other_ctap);
    std::fs::write(&path, std::fs::read(&other_path).unwrap()).unwrap();
    let swapped = seeded(7);
    use_file(&swapped, &path).unwrap();
    let mut swapped_ctap = connect(&swapped);
    assert!(assert_once(&mut swapped_ctap, &other_id, &other_key).is_ok());
    assert_eq!(
        assert_once(&mut swapped_ctap, &id, &key),
        Err(StatusCode::NO_CREDENTIALS)
    );
}

/// Issue 22 "If the state cannot be saved, the PIN check fails closed": with storage
/// that fails, the retry decrement cannot be made durable, so the PIN is not compared
/// at all (PIN_INVALID would tell the guess was wrong without the retry being counted
/// on disk: a crash would give the guess back). The answer is CTAP1_ERR_OTHER and the
/// decrement is undone in memory too, so nothing is counted anywhere and the commands
/// that change nothing still answer. Once the storage works, a wrong PIN counts.
#[test]
fn pin_attempts_fail_closed_while_the_state_cannot_be_saved() {
    use ctap2_client::ClientPin;
    use ctap2_client::proto::{Permissions, PinProtocol};
    let authenticator = seeded(8);
    let disk = Arc::new(Mutex::new(Disk::default()));
    attach(&authenticator, &disk);
    let mut ctap = connect(&authenticator);
    ClientPin::with_protocol(&mut ctap, PinProtocol::Two)
        .set_pin("1234")
        .unwrap();
    let writes = disk.lock().unwrap().writes;
    disk.lock().unwrap().fail_from = Some(writes);
    for pin in ["0000", "1234"] {
        let error = ClientPin::with_protocol(&mut ctap, PinProtocol::Two)
            .get_pin_token(pin, Permissions(0x04), None)
            .unwrap_err();
        assert_eq!(error.status(), Some(StatusCode::OTHER), "{error}");
    }
    let retries = ClientPin::with_protocol(&mut ctap, PinProtocol::Two)
        .get_pin_retries()
        .unwrap();
    assert_eq!(retries.retries, 8, "nothing counted in memory only");
    let on_disk = disk.lock().unwrap().durable.clone().unwrap();
    let mut fresh = connect(&restart(&on_disk));
    let retries = ClientPin::with_protocol(&mut fresh, PinProtocol::Two)
        .get_pin_retries()
        .unwrap();
    assert_eq!(retries.retries, 8);
    // The storage works again: a wrong PIN is counted, on disk before its answer.
    disk.lock().unwrap().fail_from = None;
    let error = ClientPin::with_protocol(&mut ctap, PinProtocol::Two)
        .get_pin_token("0000", Permissions(0x04), None)
        .unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::PIN_INVALID), "{error}");
    let on_disk = disk.lock().unwrap().durable.clone().unwrap();
    let mut fresh = connect(&restart(&on_disk));
    let retries = ClientPin::with_protocol(&mut fresh, PinProtocol::Two)
        .get_pin_retries()
        .unwrap();
    assert_eq!(retries.retries, 7);
    ClientPin::with_protocol(&mut ctap, PinProtocol::Two)
        .get_pin_token("1234", Permissions(0x04), None)
        .unwrap();
}
