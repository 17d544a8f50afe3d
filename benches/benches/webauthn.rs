//! The WebAuthn layer's cost (issue 24: under 5% on top of raw CTAP2): makeCredential
//! and getAssertion against the in-process authenticator, raw through `Ctap2` and
//! through `Fido2Client` (client data, rpId check, extensions, the response JSON), in
//! the same group, and a ratio measured in the same run (interleaved rounds, medians).
//!
//! Rows of group `webauthn`:
//! - `make_credential/raw`: `make_credential_request` + `Ctap2::make_credential`;
//! - `make_credential/webauthn`: `Fido2Client::make_credential` of typed options and
//!   `toJSON()` of the response;
//! - `make_credential/webauthn_json`: the same from the options' JSON text;
//! - `get_assertion/...`: the same for getAssertion with one allowed credential;
//! - `layer_alone`: the layer's own work for a registration without the authenticator
//!   (options JSON read, client data and rpId check, response JSON written), the
//!   figure least disturbed by a loaded machine.
//!
//! Run: `cargo bench -p ctap-benches --bench webauthn`. The ratio lines are printed at
//! the end (stderr).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use ctap_device::CtapHidDevice;
use ctap_virtual::{Config, VirtualAuthenticator, VirtualConnection};
use ctap_webauthn::{
    CreationOptions, DefaultClientDataCollector, Fido2Client, FixedPin, RequestOptions,
};
use ctap2_client::proto::{Algorithm, RpEntity, UserEntity};
use ctap2_client::{Ctap2, get_assertion_request, make_credential_request};

type Device = CtapHidDevice<VirtualConnection>;

const CREATION: &str = r#"{"publicKey":{"rp":{"id":"example.com","name":"Example"},
"user":{"id":"dXNlci0x","name":"alice","displayName":"Alice"},
"challenge":"Y2hhbGxlbmdlLWNoYWxsZW5nZS0xMjM0","pubKeyCredParams":[{"type":"public-key","alg":-7}],
"authenticatorSelection":{"userVerification":"discouraged"}}}"#;

struct Setup {
    _authenticators: (VirtualAuthenticator, VirtualAuthenticator),
    raw: Ctap2<Device>,
    client: Fido2Client<Device>,
    creation: CreationOptions,
    request: RequestOptions,
    request_json: String,
    credential: Vec<u8>,
    registration: ctap_webauthn::RegistrationResponse,
    collector: DefaultClientDataCollector,
}

fn setup() -> Setup {
    let config = Config::default().with_rng_seed(Some([7; 32]));
    let (a, b) = (
        VirtualAuthenticator::new(config),
        VirtualAuthenticator::new(config),
    );
    let raw = Ctap2::new(a.open_device().unwrap()).unwrap();
    let mut client = Fido2Client::new(
        b.open_device().unwrap(),
        DefaultClientDataCollector::new("https://example.com"),
        FixedPin::new(None),
    )
    .unwrap();
    let creation = CreationOptions::from_json(CREATION).unwrap();
    let registration = client.make_credential(&creation, None).unwrap();
    let collector = DefaultClientDataCollector::new("https://example.com");
    let request_json = format!(
        r#"{{"challenge":"Y2hhbGxlbmdlLWNoYWxsZW5nZS0xMjM0","rpId":"example.com","userVerification":"discouraged","allowCredentials":[{{"type":"public-key","id":"{}"}}]}}"#,
        registration.id
    );
    let request = RequestOptions::from_json(&request_json).unwrap();
    let mut setup = Setup {
        _authenticators: (a, b),
        raw,
        client,
        creation,
        request,
        request_json,
        credential: Vec::new(),
        registration,
        collector,
    };
    setup.credential = raw_make(&mut setup)
        .credential()
        .unwrap()
        .credential_id
        .clone();
    setup
}

fn raw_make(s: &mut Setup) -> ctap2_client::Attestation {
    let rp = RpEntity {
        icon: None,
        id: "example.com".into(),
        name: Some("Example".into()),
    };
    let user = UserEntity {
        icon: None,
        id: b"user-1".to_vec(),
        name: Some("alice".into()),
        display_name: Some("Alice".into()),
    };
    let request = make_credential_request(black_box([1; 32]), rp, user, &[Algorithm::ES256]);
    s.raw.make_credential(&request, Default::default()).unwrap()
}

fn raw_get(s: &mut Setup) -> ctap2_client::Assertion {
    let request = get_assertion_request(
        "example.com",
        black_box([2; 32]),
        std::slice::from_ref(&s.credential),
    );
    s.raw.get_assertion(&request, Default::default()).unwrap()
}

fn webauthn_make(s: &mut Setup) -> String {
    s.client
        .make_credential(black_box(&s.creation), None)
        .unwrap()
        .to_json()
}

fn webauthn_make_json(s: &mut Setup) -> String {
    let options = CreationOptions::from_json(black_box(CREATION)).unwrap();
    s.client.make_credential(&options, None).unwrap().to_json()
}

fn webauthn_get(s: &mut Setup) -> String {
    s.client
        .get_assertion(black_box(&s.request), None)
        .unwrap()
        .response(0)
        .unwrap()
        .to_json()
}

fn webauthn_get_json(s: &mut Setup) -> String {
    let options = RequestOptions::from_json(black_box(&s.request_json)).unwrap();
    s.client
        .get_assertion(&options, None)
        .unwrap()
        .response(0)
        .unwrap()
        .to_json()
}

/// The layer's own work for a registration, without the authenticator: the options
/// JSON read, the client data made and the rpId checked, the response JSON written.
fn layer_alone(s: &mut Setup) -> String {
    use ctap_webauthn::{ClientDataCollector as _, Operation};
    let options = CreationOptions::from_json(black_box(CREATION)).unwrap();
    let (data, _) = s.collector.collect(Operation::Create(&options)).unwrap();
    black_box(data.hash());
    s.registration.to_json()
}

fn group(c: &mut Criterion, s: &mut Setup) {
    let mut g = c.benchmark_group("webauthn");
    g.bench_function("make_credential/raw", |b| b.iter(|| raw_make(s)));
    g.bench_function("make_credential/webauthn", |b| b.iter(|| webauthn_make(s)));
    g.bench_function("make_credential/webauthn_json", |b| {
        b.iter(|| webauthn_make_json(s))
    });
    g.bench_function("get_assertion/raw", |b| b.iter(|| raw_get(s)));
    g.bench_function("get_assertion/webauthn", |b| b.iter(|| webauthn_get(s)));
    g.bench_function("get_assertion/webauthn_json", |b| {
        b.iter(|| webauthn_get_json(s))
    });
    g.bench_function("layer_alone", |b| b.iter(|| layer_alone(s)));
    g.finish();
}

/// `rounds` rounds of `n` calls each, raw and layered interleaved (so load changes hit
/// both alike): per call, (raw, layered) of the median round and of the fastest round
/// (on a shared machine, load only adds time: the fastest round is the cost with the
/// least interference).
fn interleaved<A, B>(
    s: &mut Setup,
    rounds: usize,
    n: usize,
    mut raw: impl FnMut(&mut Setup) -> A,
    mut layered: impl FnMut(&mut Setup) -> B,
) -> [(Duration, Duration); 2] {
    let mut times = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..n {
            black_box(raw(s));
        }
        times
            .0
            .push(start.elapsed() / u32::try_from(n).unwrap_or(1));
        let start = Instant::now();
        for _ in 0..n {
            black_box(layered(s));
        }
        times
            .1
            .push(start.elapsed() / u32::try_from(n).unwrap_or(1));
    }
    times.0.sort();
    times.1.sort();
    [
        (times.0[rounds / 2], times.1[rounds / 2]),
        (times.0[0], times.1[0]),
    ]
}

fn ratios(s: &mut Setup) {
    let report = |name: &str, [median, fastest]: [(Duration, Duration); 2]| {
        for (which, (raw, layered)) in [("median", median), ("fastest", fastest)] {
            eprintln!(
                "ratio {name} ({which} round): raw {raw:?}, webauthn {layered:?}, webauthn/raw {:.3}",
                layered.as_secs_f64() / raw.as_secs_f64()
            );
        }
    };
    report(
        "make_credential",
        interleaved(s, 41, 20, raw_make, webauthn_make),
    );
    report(
        "make_credential (JSON in and out)",
        interleaved(s, 41, 20, raw_make, webauthn_make_json),
    );
    report(
        "get_assertion",
        interleaved(s, 41, 20, raw_get, webauthn_get),
    );
    report(
        "get_assertion (JSON in and out)",
        interleaved(s, 41, 20, raw_get, webauthn_get_json),
    );
    // The layer's work alone against the raw call: its share of the total.
    let [_, (raw, alone)] = interleaved(s, 41, 20, raw_make, layer_alone);
    eprintln!(
        "layer alone (JSON in, client data, rpId check, JSON out): {alone:?} = {:.1}% of a raw makeCredential ({raw:?}, fastest rounds)",
        100.0 * alone.as_secs_f64() / raw.as_secs_f64()
    );
}

fn main() {
    let mut s = setup();
    let mut c = Criterion::default().configure_from_args();
    group(&mut c, &mut s);
    c.final_summary();
    ratios(&mut s);
}
