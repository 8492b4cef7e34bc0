//! Proves the hand-written field numbers against the protobuf wire format itself: the
//! expected bytes below are assembled by hand from the `.proto` definitions (field number,
//! wire type), not produced by prost, so a wrong tag in the derive fails these tests.

use std::collections::BTreeMap;
use wasp_servicecontrol::check_error::Code as CheckCode;
use wasp_servicecontrol::check_response::consumer_info::ConsumerType;
use wasp_servicecontrol::quota_error::Code as QuotaCode;
use wasp_servicecontrol::quota_operation::QuotaMode;
use wasp_servicecontrol::*;

const VARINT: u8 = 0;
const LEN: u8 = 2;

fn key(field: u8, wire_type: u8) -> u8 {
    assert!(field < 16, "single-byte keys only");
    (field << 3) | wire_type
}

fn varint_bytes(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn varint(field: u8, value: u64) -> Vec<u8> {
    let mut out = vec![key(field, VARINT)];
    out.extend(varint_bytes(value));
    out
}

fn len_delimited(field: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![key(field, LEN)];
    out.extend(varint_bytes(payload.len() as u64));
    out.extend_from_slice(payload);
    out
}

fn concat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn varint_helper_matches_the_protobuf_spec_example() {
    // The protobuf encoding guide's example: 150 -> 96 01.
    assert_eq!(varint_bytes(150), vec![0x96, 0x01]);
}

#[test]
fn check_response_decodes_from_hand_encoded_bytes() {
    // CheckResponse { operation_id=1, check_errors=2 { code=1, detail=2, subject=4 },
    //                 service_config_id=5, check_info=6 { consumer_info=2 { project_number=1, type=2, consumer_number=3 } },
    //                 service_rollout_id=11 (two-byte key 0x5a) }
    let check_error = concat(&[
        varint(1, 105),
        len_delimited(2, b"bad key"),
        len_delimited(4, b"project:p"),
    ]);
    let consumer_info = concat(&[varint(1, 123456), varint(2, 1), varint(3, 123456)]);
    let check_info = len_delimited(2, &consumer_info);
    let bytes = concat(&[
        len_delimited(1, b"op-1"),
        len_delimited(2, &check_error),
        len_delimited(5, b"cfg-7"),
        len_delimited(6, &check_info),
        vec![0x5a, 0x02], // field 11, wire type 2: (11 << 3) | 2 = 90
        b"r1".to_vec(),
    ]);

    let response = CheckResponse::decode(bytes.as_slice()).expect("decodes");
    assert_eq!(response.operation_id, "op-1");
    assert_eq!(response.service_config_id, "cfg-7");
    assert_eq!(response.service_rollout_id, "r1");
    assert_eq!(response.check_errors.len(), 1);
    let error = &response.check_errors[0];
    assert_eq!(error.code(), CheckCode::ApiKeyInvalid);
    assert_eq!(error.detail, "bad key");
    assert_eq!(error.subject, "project:p");
    let consumer = response
        .check_info
        .and_then(|i| i.consumer_info)
        .expect("consumer info");
    assert_eq!(consumer.project_number, 123456);
    assert_eq!(consumer.r#type(), ConsumerType::Project);
    assert_eq!(consumer.consumer_number, 123456);
}

#[test]
fn allocate_quota_request_encodes_to_hand_encoded_bytes() {
    let request = AllocateQuotaRequest {
        service_name: "svc".into(),
        allocate_operation: Some(QuotaOperation {
            operation_id: "o".into(),
            method_name: "m".into(),
            consumer_id: "api_key:k".into(),
            labels: BTreeMap::from([("a".to_string(), "b".to_string())]),
            quota_metrics: vec![MetricValueSet::int64("reads", 3)],
            quota_mode: QuotaMode::BestEffort as i32,
        }),
        service_config_id: "c".into(),
    };
    // MetricValue.int64_value is field 5 (varint); MetricValueSet { metric_name=1, metric_values=2 }.
    let metric_set = concat(&[len_delimited(1, b"reads"), len_delimited(2, &varint(5, 3))]);
    let label_entry = concat(&[len_delimited(1, b"a"), len_delimited(2, b"b")]);
    let operation = concat(&[
        len_delimited(1, b"o"),
        len_delimited(2, b"m"),
        len_delimited(3, b"api_key:k"),
        len_delimited(4, &label_entry),
        len_delimited(5, &metric_set),
        varint(6, 2), // BEST_EFFORT = 2
    ]);
    let expected = concat(&[
        len_delimited(1, b"svc"),
        len_delimited(2, &operation),
        len_delimited(4, b"c"),
    ]);
    assert_eq!(request.encode_to_vec(), expected);
}

#[test]
fn allocate_quota_response_decodes_resource_exhausted() {
    // AllocateQuotaResponse { operation_id=1, allocate_errors=2 { code=1, subject=2, description=3 }, service_config_id=4 }
    let quota_error = concat(&[
        varint(1, 8),
        len_delimited(2, b"project:p"),
        len_delimited(3, b"over"),
    ]);
    let bytes = concat(&[
        len_delimited(1, b"o"),
        len_delimited(2, &quota_error),
        len_delimited(4, b"c"),
    ]);
    let response = AllocateQuotaResponse::decode(bytes.as_slice()).expect("decodes");
    assert_eq!(
        response.allocate_errors[0].code(),
        QuotaCode::ResourceExhausted
    );
    assert_eq!(response.allocate_errors[0].description, "over");
    assert_eq!(response.service_config_id, "c");
}

#[test]
fn report_request_encodes_to_hand_encoded_bytes() {
    let request = ReportRequest {
        service_name: "svc".into(),
        operations: vec![Operation {
            operation_id: "o".into(),
            operation_name: "n".into(),
            consumer_id: "api_key:k".into(),
            start_time: Some(Timestamp {
                seconds: 7,
                nanos: 0,
            }),
            end_time: Some(Timestamp {
                seconds: 8,
                nanos: 5,
            }),
            labels: BTreeMap::from([("/response_code".to_string(), "200".to_string())]),
            metric_value_sets: vec![MetricValueSet::int64("request_count", 1)],
            log_entries: vec![LogEntry {
                name: "endpoints_log".into(),
                severity: LogSeverity::Info as i32,
                http_request: Some(HttpRequest {
                    status: 200,
                    ..Default::default()
                }),
                ..Default::default()
            }],
            importance: 0,
        }],
        service_config_id: "c".into(),
    };
    // LogEntry { name=10, severity=12, http_request=14 { status=4 } }.
    let log_entry = concat(&[
        len_delimited(10, b"endpoints_log"),
        varint(12, 200),
        len_delimited(14, &varint(4, 200)),
    ]);
    let operation = concat(&[
        len_delimited(1, b"o"),
        len_delimited(2, b"n"),
        len_delimited(3, b"api_key:k"),
        len_delimited(4, &varint(1, 7)),
        len_delimited(5, &concat(&[varint(1, 8), varint(2, 5)])),
        len_delimited(
            6,
            &concat(&[
                len_delimited(1, b"/response_code"),
                len_delimited(2, b"200"),
            ]),
        ),
        len_delimited(
            7,
            &concat(&[
                len_delimited(1, b"request_count"),
                len_delimited(2, &varint(5, 1)),
            ]),
        ),
        len_delimited(8, &log_entry),
    ]);
    let expected = concat(&[
        len_delimited(1, b"svc"),
        len_delimited(2, &operation),
        len_delimited(3, b"c"),
    ]);
    assert_eq!(request.encode_to_vec(), expected);
}

#[test]
fn check_request_puts_service_config_id_in_field_4() {
    let request = CheckRequest {
        service_name: "s".into(),
        operation: Some(Operation {
            consumer_id: "api_key:k".into(),
            ..Default::default()
        }),
        service_config_id: "c".into(),
    };
    let expected = concat(&[
        len_delimited(1, b"s"),
        len_delimited(2, &len_delimited(3, b"api_key:k")),
        len_delimited(4, b"c"),
    ]);
    assert_eq!(request.encode_to_vec(), expected);
}

#[test]
fn unknown_fields_from_newer_protos_are_skipped() {
    // A response carrying a field this crate does not declare (here field 15 of
    // CheckResponse) must still decode: newer servers may add fields.
    let bytes = concat(&[len_delimited(1, b"op"), len_delimited(15, b"future")]);
    let response = CheckResponse::decode(bytes.as_slice()).expect("decodes");
    assert_eq!(response.operation_id, "op");
}

#[test]
fn full_messages_round_trip() {
    let operation = Operation {
        operation_id: "id".into(),
        operation_name: "1.api.Op".into(),
        consumer_id: "project:p".into(),
        start_time: Some(Timestamp {
            seconds: 1_700_000_000,
            nanos: 1,
        }),
        end_time: Some(Timestamp {
            seconds: 1_700_000_001,
            nanos: 2,
        }),
        labels: BTreeMap::from([("k".into(), "v".into()), ("k2".into(), "v2".into())]),
        metric_value_sets: vec![
            MetricValueSet::int64("count", 4),
            MetricValueSet {
                metric_name: "latency".into(),
                metric_values: vec![MetricValue {
                    value: Some(metric_value::Value::DistributionValue(Distribution {
                        count: 2,
                        mean: 1.5,
                        minimum: 1.0,
                        maximum: 2.0,
                        sum_of_squared_deviation: 0.5,
                        bucket_counts: vec![0, 1, 1],
                        bucket_option: Some(distribution::BucketOption::ExponentialBuckets(
                            distribution::ExponentialBuckets {
                                num_finite_buckets: 29,
                                growth_factor: 2.0,
                                scale: 1e-6,
                            },
                        )),
                    })),
                    ..Default::default()
                }],
            },
        ],
        log_entries: vec![LogEntry {
            name: "endpoints_log".into(),
            payload: Some(log_entry::Payload::TextPayload("hello".into())),
            http_request: Some(HttpRequest {
                latency: Some(Duration {
                    seconds: 0,
                    nanos: 1000,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }],
        importance: operation::Importance::High as i32,
    };
    let report = ReportRequest {
        service_name: "s".into(),
        operations: vec![operation.clone()],
        service_config_id: "c".into(),
    };
    assert_eq!(
        ReportRequest::decode(report.encode_to_vec().as_slice()).unwrap(),
        report
    );

    let check = CheckResponse {
        operation_id: "id".into(),
        check_errors: vec![CheckError {
            code: CheckCode::ServiceNotActivated as i32,
            status: Some(Status {
                code: 7,
                message: "no".into(),
                details: vec![],
            }),
            ..Default::default()
        }],
        check_info: Some(check_response::CheckInfo {
            unused_arguments: vec!["x".into()],
            consumer_info: Some(check_response::ConsumerInfo {
                project_number: 9,
                r#type: 1,
                consumer_number: 9,
            }),
        }),
        ..Default::default()
    };
    assert_eq!(
        CheckResponse::decode(check.encode_to_vec().as_slice()).unwrap(),
        check
    );

    let quota = AllocateQuotaResponse {
        operation_id: "id".into(),
        allocate_errors: vec![QuotaError {
            code: QuotaCode::ApiKeyInvalid as i32,
            ..Default::default()
        }],
        quota_metrics: vec![MetricValueSet::int64("used", 2)],
        service_config_id: "c".into(),
    };
    assert_eq!(
        AllocateQuotaResponse::decode(quota.encode_to_vec().as_slice()).unwrap(),
        quota
    );
    assert_eq!(
        ReportResponse::decode(ReportResponse::default().encode_to_vec().as_slice()).unwrap(),
        ReportResponse::default()
    );
}

#[test]
fn enum_values_are_googles() {
    assert_eq!(CheckCode::ApiKeyInvalid as i32, 105);
    assert_eq!(CheckCode::ServiceNotActivated as i32, 104);
    assert_eq!(CheckCode::NamespaceLookupUnavailable as i32, 300);
    assert_eq!(
        CheckCode::CloudResourceManagerBackendUnavailable as i32,
        305
    );
    assert_eq!(QuotaCode::ResourceExhausted as i32, 8);
    assert_eq!(QuotaMode::BestEffort as i32, 2);
    assert_eq!(LogSeverity::Error as i32, 500);
}

#[test]
fn int64_sum_saturates_and_ignores_other_kinds() {
    let set = MetricValueSet {
        metric_name: "m".into(),
        metric_values: vec![
            MetricValue::int64(i64::MAX),
            MetricValue::int64(5),
            MetricValue {
                value: Some(metric_value::Value::DoubleValue(2.0)),
                ..Default::default()
            },
        ],
    };
    assert_eq!(set.int64_sum(), i64::MAX);
}
