//! A hostile key: counts and lengths a device claims must not decide how much the
//! client keeps. Each test's device answers for ever (up to a backstop far above any
//! bound), so a client that follows the claim runs into the backstop and fails the test
//! instead of hanging it.

use ctap_device::{CallOptions, CtapDevice};
use ctap_types::{Capabilities, Command};
use ctap2_proto::cbor::CborMessage;
use ctap2_proto::{
    CoseKey, CredentialDescriptor, CredentialManagementResponse, GetAssertionResponse, Info,
    LargeBlobsResponse, Permissions, PinProtocol, RpEntity, UserEntity,
};

use super::{auth_data, info};
use crate::*;

/// Calls after which [`Endless`] stops answering: far more than any bound of the
/// client, so a test that reaches it shows the client followed the device's claim.
const BACKSTOP: usize = 20_000;

/// A device that answers getInfo with `info`, the next call with `first`, and every
/// later call with `next`, until [`BACKSTOP`] calls.
struct Endless {
    info: Vec<u8>,
    first: Vec<u8>,
    next: Vec<u8>,
    calls: usize,
}

impl std::fmt::Debug for Endless {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endless")
            .field("calls", &self.calls)
            .finish_non_exhaustive()
    }
}

impl Endless {
    fn open(info: &Info, first: &impl CborMessage, next: &impl CborMessage) -> Ctap2<Self> {
        let body = |message: &dyn Fn() -> Vec<u8>| [&[0u8][..], &message()].concat();
        Ctap2::new(Self {
            info: body(&|| info.to_cbor()),
            first: body(&|| first.to_cbor()),
            next: body(&|| next.to_cbor()),
            calls: 0,
        })
        .unwrap()
    }
}

impl CtapDevice for Endless {
    fn capabilities(&self) -> Capabilities {
        Capabilities::CBOR
    }

    fn call_with(
        &mut self,
        command: Command,
        _data: &[u8],
        _options: CallOptions<'_>,
    ) -> Result<Vec<u8>, ctap_device::Error> {
        assert_eq!(command, Command::CBOR);
        self.calls += 1;
        match self.calls {
            1 => Ok(self.info.clone()),
            2 => Ok(self.first.clone()),
            n if n > BACKSTOP => Err(ctap_device::Error::Disconnected),
            _ => Ok(self.next.clone()),
        }
    }

    fn close(&mut self) {}
}

fn assertion(count: Option<u32>) -> GetAssertionResponse {
    GetAssertionResponse {
        credential: Some(CredentialDescriptor::public_key(&[1; 16])),
        auth_data: auth_data(None, 1),
        signature: vec![0; 70],
        user: Some(UserEntity {
            icon: None,
            id: vec![1; 32],
            name: None,
            display_name: None,
        }),
        number_of_credentials: count,
        user_selected: None,
        large_blob_key: None,
        unsigned_extension_outputs: None,
    }
}

#[track_caller]
fn assert_too_many(error: &Error, what: &str, claimed: u64, limit: u64) {
    match error {
        Error::TooMany {
            what: got,
            claimed: got_claimed,
            limit: got_limit,
            ..
        } => assert_eq!((*got, *got_claimed, *got_limit), (what, claimed, limit)),
        other => panic!("expected TooMany {what}, got {other:?}"),
    }
    let text = error.to_string();
    assert!(
        text.contains(&claimed.to_string()) && text.contains(&limit.to_string()),
        "{text}"
    );
}

#[test]
fn get_assertions_refuses_a_count_of_2_pow_32_before_any_get_next_assertion() {
    // CTAP 2.1 §6.2.2: no limit for discoverable credentials, so the client's own.
    let mut ctap = Endless::open(
        &info(&[], &[]),
        &assertion(Some(u32::MAX)),
        &assertion(None),
    );
    let request = get_assertion_request(super::RP, [0; 32], &[]);
    let error = ctap
        .get_assertions(&request, CallOptions::default())
        .unwrap_err();
    assert_too_many(
        &error,
        "numberOfCredentials",
        u64::from(u32::MAX),
        MAX_CREDENTIALS as u64,
    );
    assert_eq!(ctap.device().calls, 2, "getInfo and getAssertion only");
}

#[test]
fn get_assertions_with_an_allow_list_accepts_no_more_than_the_list_holds() {
    // CTAP 2.1 §6.2.2 step 7: with an allowList only listed credentials apply.
    let mut ctap = Endless::open(&info(&[], &[]), &assertion(Some(3)), &assertion(None));
    let request = get_assertion_request(super::RP, [0; 32], &[vec![1; 16], vec![2; 16]]);
    let error = ctap
        .get_assertions(&request, CallOptions::default())
        .unwrap_err();
    assert_too_many(&error, "numberOfCredentials", 3, 2);
    assert_eq!(ctap.device().calls, 2);

    // Within the bounds the count is followed; a count of 0 is no count.
    let mut ctap = Endless::open(&info(&[], &[]), &assertion(Some(2)), &assertion(None));
    let all = ctap
        .get_assertions(&request, CallOptions::default())
        .unwrap();
    assert_eq!(all.len(), 2);
    let mut ctap = Endless::open(&info(&[], &[]), &assertion(Some(0)), &assertion(None));
    assert!(matches!(
        ctap.get_assertions(&request, CallOptions::default()),
        Err(Error::InvalidResponse { .. })
    ));
}

fn rp(total: Option<u64>) -> CredentialManagementResponse {
    CredentialManagementResponse {
        rp: Some(RpEntity {
            icon: None,
            id: "example.com".into(),
            name: None,
        }),
        rp_id_hash: Some(vec![7; 32]),
        total_rps: total,
        ..CredentialManagementResponse::default()
    }
}

fn credential(total: Option<u64>) -> CredentialManagementResponse {
    CredentialManagementResponse {
        user: Some(UserEntity {
            icon: None,
            id: vec![1; 32],
            name: Some("someone".into()),
            display_name: None,
        }),
        credential_id: Some(CredentialDescriptor::public_key(&[1; 16])),
        public_key: Some(CoseKey::EdDsa { x: [9; 32] }),
        total_credentials: total,
        ..CredentialManagementResponse::default()
    }
}

fn management<D: CtapDevice>(ctap: &mut Ctap2<D>) -> CredentialManagement<'_, D> {
    let token = PinToken::new(
        PinProtocol::Two,
        vec![3; 32],
        Permissions::CREDENTIAL_MANAGEMENT,
    );
    CredentialManagement::new(ctap, token).unwrap()
}

#[test]
fn enumerate_rps_refuses_a_total_of_2_pow_32_and_a_missing_total() {
    let cm_info = info(&[("credMgmt", true)], &[2]);
    let mut ctap = Endless::open(&cm_info, &rp(Some(1 << 32)), &rp(None));
    let error = management(&mut ctap).enumerate_rps().unwrap_err();
    assert_too_many(&error, "totalRPs", 1 << 32, MAX_CREDENTIALS as u64);
    assert_eq!(ctap.device().calls, 2, "getInfo and enumerateRPsBegin only");

    // CTAP 2.1 §6.8.3: the begin answer carries totalRPs; without it, no list.
    let mut ctap = Endless::open(&cm_info, &rp(None), &rp(None));
    let error = management(&mut ctap).enumerate_rps().unwrap_err();
    assert!(error.to_string().contains("totalRPs"), "{error}");
}

#[test]
fn enumerate_creds_refuses_a_total_of_2_pow_32_a_missing_total_and_too_many_in_all() {
    let cm_info = info(&[("credMgmt", true)], &[2]);
    let mut ctap = Endless::open(&cm_info, &credential(Some(1 << 32)), &credential(None));
    let error = management(&mut ctap).enumerate_creds(&[7; 32]).unwrap_err();
    assert_too_many(&error, "totalCredentials", 1 << 32, MAX_CREDENTIALS as u64);
    assert_eq!(ctap.device().calls, 2);

    // CTAP 2.1 §6.8.4: the begin answer carries totalCredentials.
    let mut ctap = Endless::open(&cm_info, &credential(None), &credential(None));
    let error = management(&mut ctap).enumerate_creds(&[7; 32]).unwrap_err();
    assert!(error.to_string().contains("totalCredentials"), "{error}");

    // Every RP claiming the most: the bound holds for all RPs together, so listing
    // RP after RP cannot grow past it either. (Each begin answers with a total of
    // MAX_CREDENTIALS; the device repeats that answer for the getNexts too.)
    let most = u64::try_from(MAX_CREDENTIALS).unwrap();
    let mut ctap = Endless::open(&cm_info, &credential(Some(most)), &credential(Some(most)));
    let mut cm = management(&mut ctap);
    assert_eq!(cm.enumerate_creds(&[7; 32]).unwrap().len(), MAX_CREDENTIALS);
    let error = cm.enumerate_creds(&[8; 32]).unwrap_err();
    assert_too_many(&error, "totalCredentials", most, 0);
}

#[test]
fn a_large_blob_array_longer_than_max_serialized_large_blob_array_is_refused() {
    // maxMsgSize 1200: fragments of 1136 bytes; the device sends full ones for ever.
    let mut blob_info = info(&[("largeBlobs", true)], &[2]);
    blob_info.max_serialized_large_blob_array = Some(4096);
    let full = LargeBlobsResponse {
        config: Some(vec![0xAB; 1136]),
    };
    let mut ctap = Endless::open(&blob_info, &full, &full);
    let error = LargeBlobs::new(&mut ctap, None)
        .unwrap()
        .read_serialized()
        .unwrap_err();
    // Four fragments (4544 bytes) pass 4096: refused at the fourth, nothing kept.
    assert_too_many(
        &error,
        "bytes of serialized large-blob array",
        4 * 1136,
        4096,
    );
    assert_eq!(ctap.device().calls, 1 + 4);

    // A device that claims 2^64 - 1 bytes of room still gets the fixed cap.
    blob_info.max_serialized_large_blob_array = Some(u64::MAX);
    let mut ctap = Endless::open(&blob_info, &full, &full);
    let error = LargeBlobs::new(&mut ctap, None)
        .unwrap()
        .read_serialized()
        .unwrap_err();
    let over = MAX_LARGE_BLOB_ARRAY.div_ceil(1136) * 1136;
    assert_too_many(
        &error,
        "bytes of serialized large-blob array",
        over as u64,
        MAX_LARGE_BLOB_ARRAY as u64,
    );
}
