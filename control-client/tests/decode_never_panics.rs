//! Property tests: Service Control answers (any bytes, and well-formed messages with any
//! codes) decode and interpret without panicking, every denial being a 4xx/5xx; API-key
//! extraction takes any request and, once the key's removal is applied, the request carries
//! no key. (`never_panics.rs` drives the whole flow with hostile requests.) The cargo-fuzz
//! targets `service_control_response` and `api_key` (fuzz/) explore the same ground longer.

use proptest::prelude::*;
use wasp_control_client::api_key::{effective_locations, extract, KeyRemoval};
use wasp_control_client::check::{interpret as interpret_check, CheckOutcome};
use wasp_control_client::quota::{interpret as interpret_quota, QuotaOutcome};
use wasp_control_client::{KeyLocation, Reply};
use wasp_servicecontrol::check_response::{CheckInfo, ConsumerInfo};
use wasp_servicecontrol::{
    AllocateQuotaResponse, CheckError, CheckResponse, Message, QuotaError, ReportResponse,
};

fn check_reply(reply: &Reply) -> Result<(), TestCaseError> {
    prop_assert!(
        (400..600).contains(&reply.status),
        "status {}",
        reply.status
    );
    let body: serde_json::Value = serde_json::from_str(&reply.body()).unwrap();
    prop_assert_eq!(body["code"].as_u64(), Some(u64::from(reply.status)));
    Ok(())
}

fn interpret_both(
    check: &CheckResponse,
    quota: &AllocateQuotaResponse,
) -> Result<(), TestCaseError> {
    if let CheckOutcome::Denied(denial) = interpret_check(check, "s.example.com") {
        check_reply(&denial.reply)?;
    }
    match interpret_quota(quota) {
        QuotaOutcome::Exhausted(reply) => {
            prop_assert_eq!(reply.status, 429);
            check_reply(&reply)?;
        }
        QuotaOutcome::Denied(reply) => check_reply(&reply)?,
        QuotaOutcome::Granted => {}
    }
    Ok(())
}

/// Codes the protos define, and numbers they do not.
fn code() -> impl Strategy<Value = i32> {
    prop_oneof![
        prop::sample::select(vec![
            0, 5, 7, 8, 104, 105, 107, 108, 109, 110, 111, 112, 113, 114, 122, 123, 125, 300, 301,
            302, 305
        ]),
        any::<i32>(),
    ]
}

fn check_response() -> impl Strategy<Value = CheckResponse> {
    (
        prop::collection::vec((code(), "\\PC{0,12}"), 0..3),
        prop::option::of((any::<i64>(), -1i32..6, any::<i64>())),
    )
        .prop_map(|(errors, consumer)| CheckResponse {
            check_errors: errors
                .into_iter()
                .map(|(code, detail)| CheckError {
                    code,
                    detail,
                    ..CheckError::default()
                })
                .collect(),
            check_info: consumer.map(|(project_number, r#type, consumer_number)| CheckInfo {
                unused_arguments: vec![],
                consumer_info: Some(ConsumerInfo {
                    project_number,
                    r#type,
                    consumer_number,
                }),
            }),
            ..CheckResponse::default()
        })
}

fn quota_response() -> impl Strategy<Value = AllocateQuotaResponse> {
    prop::collection::vec((code(), "\\PC{0,12}"), 0..3).prop_map(|errors| AllocateQuotaResponse {
        allocate_errors: errors
            .into_iter()
            .map(|(code, description)| QuotaError {
                code,
                description,
                ..QuotaError::default()
            })
            .collect(),
        ..AllocateQuotaResponse::default()
    })
}

fn location() -> impl Strategy<Value = KeyLocation> {
    let name = prop_oneof![
        Just("key".to_string()),
        Just("api_key".to_string()),
        Just("x-api-key".to_string()),
        Just("X-Api-Key".to_string()),
        "[a-zA-Z%_-]{0,6}",
    ];
    (any::<bool>(), name).prop_map(|(query, name)| {
        if query {
            KeyLocation::Query(name)
        } else {
            KeyLocation::Header(name)
        }
    })
}

fn query_text() -> impl Strategy<Value = String> {
    let pair = prop_oneof![
        Just("key=abc".to_string()),
        Just("api_key=abc".to_string()),
        Just("k%65y=abc".to_string()),
        Just("key=%61bc".to_string()),
        Just("key=".to_string()),
        Just("key".to_string()),
        Just("=v".to_string()),
        Just("".to_string()),
        "[a-z%_=]{0,8}",
        "\\PC{0,8}",
    ];
    prop::collection::vec(pair, 0..5).prop_map(|pairs| pairs.join("&"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_answer_bytes_decode_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let check = CheckResponse::decode(bytes.as_slice()).unwrap_or_default();
        let quota = AllocateQuotaResponse::decode(bytes.as_slice()).unwrap_or_default();
        let _ = ReportResponse::decode(bytes.as_slice());
        interpret_both(&check, &quota)?;
    }

    #[test]
    fn well_formed_answers_with_any_codes_interpret(check in check_response(), quota in quota_response()) {
        // Through the wire, as the flow sees them.
        let check = CheckResponse::decode(check.encode_to_vec().as_slice()).unwrap();
        let quota = AllocateQuotaResponse::decode(quota.encode_to_vec().as_slice()).unwrap();
        interpret_both(&check, &quota)?;
    }

    #[test]
    fn a_removed_key_is_gone(
        custom in prop::collection::vec(location(), 0..4),
        headers in prop::collection::vec(
            (prop_oneof![Just("x-api-key".to_string()), Just("X-API-KEY".to_string()), "[a-zA-Z-]{0,8}"],
             prop_oneof![Just("abc".to_string()), Just(" abc ".to_string()), "\\PC{0,6}"]),
            0..4),
        before in "/[a-z/]{0,8}",
        query in prop::option::of(query_text()),
    ) {
        let path = match &query {
            Some(query) => format!("{before}?{query}"),
            None => before,
        };
        let locations = effective_locations(&custom);
        let raw_query = path.split_once('?').map_or("", |(_, q)| q);
        let Ok(Some(found)) = extract(&locations, &headers, raw_query) else {
            return Ok(());
        };
        prop_assert!(!found.key.is_empty());
        let removal = KeyRemoval::for_key(&found, &path);
        let new_path = removal.new_path.clone().unwrap_or(path.clone());
        let kept: Vec<(String, String)> = headers
            .iter()
            .filter(|(name, _)| !removal.remove_headers.iter().any(|r| r.eq_ignore_ascii_case(name)))
            .cloned()
            .collect();
        let new_query = new_path.split_once('?').map_or("", |(_, q)| q);
        prop_assert_eq!(extract(&locations, &kept, new_query), Ok(None), "{} -> {}", path, new_path);
    }
}
