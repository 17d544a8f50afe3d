//! WebAuthn options JSON and its extensions, as a hostile server could send them: no
//! input panics or takes unbounded work, and whatever is accepted round-trips through
//! its JSON form unchanged (the writer and the reader agree).
#![no_main]

use ctap_webauthn::{CreationOptions, RequestOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(options) = CreationOptions::from_json(text) {
        let again = CreationOptions::from_json(&options.to_json()).expect("our own JSON reads back");
        let mut expected = options.clone();
        expected.extensions.ignored.clear();
        assert_eq!(expected, again, "creation options round trip");
    }
    if let Ok(options) = RequestOptions::from_json(text) {
        let again = RequestOptions::from_json(&options.to_json()).expect("our own JSON reads back");
        let mut expected = options.clone();
        expected.extensions.ignored.clear();
        assert_eq!(expected, again, "request options round trip");
    }
});
