//! Check: the request ESPv2 sends for an operation that requires a key, and what the answer
//! means for the client — allowed (with the consumer for the `X-Endpoint-API-Consumer-*`
//! headers), denied with ESPv2's exact status and message, or "backends unavailable" (the
//! fail policy decides). Messages: ESPv2 `check_response_convert_utils.cc`.

use crate::config::ControlClientConfig;
use crate::labels::RequestFacts;
use crate::reply::{Reply, RpcCode};
use crate::timestamp;
use wasp_servicecontrol::check_error::Code;
use wasp_servicecontrol::check_response::consumer_info::ConsumerType;
use wasp_servicecontrol::{CheckRequest, CheckResponse, Operation};

/// The key's state as ESPv2 reports it (`api_key_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyState {
    NotChecked,
    Verified,
    Invalid,
    NotEnabled,
}

/// Who the key belongs to, for the consumer headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    /// `PROJECT`, `FOLDER`, `ORGANIZATION` or `SERVICE_SPECIFIC`.
    pub kind: &'static str,
    pub number: i64,
}

/// A denial and what it says about the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub reply: Reply,
    pub key_state: KeyState,
}

/// What a CheckResponse means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    Allowed(Option<Consumer>),
    Denied(Denial),
    /// A `*_UNAVAILABLE` check error: Google could not decide; the fail policy applies.
    Unavailable,
}

/// ESPv2's fail-closed message for `*_UNAVAILABLE` check errors.
pub const BACKENDS_UNAVAILABLE: &str =
    "One or more Google Service Control backends are unavailable.";

/// Builds the CheckRequest for `key` calling `operation_name`.
pub fn check_request(
    config: &ControlClientConfig,
    operation_name: &str,
    operation_id: &str,
    key: &str,
    facts: &RequestFacts,
    now_ms: u64,
) -> CheckRequest {
    CheckRequest {
        service_name: config.service_name.clone(),
        service_config_id: config.service_config_id.clone(),
        operation: Some(Operation {
            operation_id: operation_id.to_string(),
            operation_name: operation_name.to_string(),
            consumer_id: format!("api_key:{key}"),
            start_time: Some(timestamp(now_ms)),
            labels: facts.check_labels(&config.service_agent),
            ..Operation::default()
        }),
    }
}

/// Interprets a CheckResponse. Only the first check error decides, as in ESPv2.
pub fn interpret(response: &CheckResponse, service_name: &str) -> CheckOutcome {
    let Some(error) = response.check_errors.first() else {
        let consumer = response
            .check_info
            .as_ref()
            .and_then(|info| info.consumer_info.as_ref())
            .and_then(|info| {
                let kind = match info.r#type() {
                    ConsumerType::Project => "PROJECT",
                    ConsumerType::Folder => "FOLDER",
                    ConsumerType::Organization => "ORGANIZATION",
                    ConsumerType::ServiceSpecific => "SERVICE_SPECIFIC",
                    ConsumerType::Unspecified => return None,
                };
                let number = if info.consumer_number != 0 {
                    info.consumer_number
                } else {
                    info.project_number
                };
                Some(Consumer { kind, number })
            });
        return CheckOutcome::Allowed(consumer);
    };
    let denied = |code: RpcCode, text: &str, key_state: KeyState| {
        CheckOutcome::Denied(Denial {
            reply: Reply::coded(code, text),
            key_state,
        })
    };
    use KeyState::{Invalid, NotEnabled};
    use RpcCode::{InvalidArgument, PermissionDenied};
    let Ok(code) = Code::try_from(error.code) else {
        return unsupported(error.code);
    };
    match code {
        Code::ApiKeyInvalid => denied(InvalidArgument, "API key not valid. Please pass a valid API key.", Invalid),
        Code::ApiKeyNotFound => denied(InvalidArgument, "API key not found. Please pass a valid API key.", Invalid),
        Code::ApiKeyExpired => denied(InvalidArgument, "API key expired. Please renew the API key.", Invalid),
        Code::ProjectInvalid => denied(InvalidArgument, "Client project not valid. Please pass a valid project.", Invalid),
        Code::NotFound => denied(InvalidArgument, "Client project not found. Please pass a valid project.", Invalid),
        Code::ServiceNotActivated => denied(
            PermissionDenied,
            &format!("API {service_name} is not enabled for the project."),
            NotEnabled,
        ),
        Code::PermissionDenied => denied(PermissionDenied, "Permission denied.", Invalid),
        Code::IpAddressBlocked => denied(PermissionDenied, "IP address blocked.", Invalid),
        Code::RefererBlocked => denied(PermissionDenied, "Referer blocked.", Invalid),
        Code::ClientAppBlocked => denied(PermissionDenied, "Client application blocked.", Invalid),
        // The leading space is ESPv2's (it prints a double space after the code).
        Code::ApiTargetBlocked => denied(
            PermissionDenied,
            " The API targeted by this request is invalid for the given API key.",
            Invalid,
        ),
        Code::ProjectDeleted => denied(PermissionDenied, "Project has been deleted.", Invalid),
        Code::BillingDisabled => denied(
            PermissionDenied,
            &format!("API {service_name} has billing disabled. Please enable it."),
            Invalid,
        ),
        Code::InvalidCredential => denied(PermissionDenied, "The credential in the request can not be verified.", Invalid),
        Code::ConsumerInvalid => denied(
            PermissionDenied,
            "The consumer from the API key does not represent a valid consumer folder or organization.",
            Invalid,
        ),
        Code::ResourceExhausted => denied(RpcCode::ResourceExhausted, "Quota check failed.", KeyState::Verified),
        Code::NamespaceLookupUnavailable
        | Code::ServiceStatusUnavailable
        | Code::BillingStatusUnavailable
        | Code::CloudResourceManagerBackendUnavailable => CheckOutcome::Unavailable,
        Code::ErrorCodeUnspecified => unsupported(error.code),
    }
}

fn unsupported(code: i32) -> CheckOutcome {
    CheckOutcome::Denied(Denial {
        reply: Reply::coded(
            RpcCode::Internal,
            &format!("Request blocked due to unsupported error code: {code}"),
        ),
        key_state: KeyState::NotChecked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasp_servicecontrol::check_response::{CheckInfo, ConsumerInfo};
    use wasp_servicecontrol::CheckError;

    fn with_error(code: Code) -> CheckResponse {
        with_raw_error(code as i32)
    }

    fn with_raw_error(code: i32) -> CheckResponse {
        CheckResponse {
            check_errors: vec![CheckError {
                code,
                ..CheckError::default()
            }],
            ..CheckResponse::default()
        }
    }

    fn reply_of(response: &CheckResponse) -> Reply {
        match interpret(response, "shop.example.com") {
            CheckOutcome::Denied(denial) => denial.reply,
            other => panic!("not denied: {other:?}"),
        }
    }

    #[test]
    fn request_has_espv2s_fields() {
        let facts = RequestFacts {
            caller_ip: "1.2.3.4".into(),
            ..RequestFacts::default()
        };
        let mut config = crate::test_config();
        config.service_name = "s".into();
        config.service_config_id = "cfg".into();
        let request = check_request(&config, "1.s.Read", "op-1", "k", &facts, 1_500);
        assert_eq!(request.service_name, "s");
        assert_eq!(request.service_config_id, "cfg");
        let op = request.operation.unwrap();
        assert_eq!(op.consumer_id, "api_key:k");
        assert_eq!(op.operation_name, "1.s.Read");
        assert_eq!(op.operation_id, "op-1");
        let start = op.start_time.unwrap();
        assert_eq!((start.seconds, start.nanos), (1, 500_000_000));
        assert_eq!(
            op.labels["servicecontrol.googleapis.com/caller_ip"],
            "1.2.3.4"
        );
    }

    #[test]
    fn allowed_with_the_consumer() {
        let response = CheckResponse {
            check_info: Some(CheckInfo {
                unused_arguments: vec![],
                consumer_info: Some(ConsumerInfo {
                    project_number: 123,
                    r#type: ConsumerType::Project as i32,
                    consumer_number: 0,
                }),
            }),
            ..CheckResponse::default()
        };
        assert_eq!(
            interpret(&response, "s"),
            CheckOutcome::Allowed(Some(Consumer {
                kind: "PROJECT",
                number: 123
            }))
        );
        assert_eq!(
            interpret(&CheckResponse::default(), "s"),
            CheckOutcome::Allowed(None)
        );
    }

    #[test]
    fn espv2_statuses_and_messages() {
        let cases = [
            (Code::ApiKeyInvalid, 400, "INVALID_ARGUMENT: API key not valid. Please pass a valid API key."),
            (Code::ApiKeyNotFound, 400, "INVALID_ARGUMENT: API key not found. Please pass a valid API key."),
            (Code::ApiKeyExpired, 400, "INVALID_ARGUMENT: API key expired. Please renew the API key."),
            (Code::ServiceNotActivated, 403, "PERMISSION_DENIED: API shop.example.com is not enabled for the project."),
            (Code::ProjectInvalid, 400, "INVALID_ARGUMENT: Client project not valid. Please pass a valid project."),
            (Code::NotFound, 400, "INVALID_ARGUMENT: Client project not found. Please pass a valid project."),
            (Code::PermissionDenied, 403, "PERMISSION_DENIED: Permission denied."),
            (Code::IpAddressBlocked, 403, "PERMISSION_DENIED: IP address blocked."),
            (Code::RefererBlocked, 403, "PERMISSION_DENIED: Referer blocked."),
            (Code::ClientAppBlocked, 403, "PERMISSION_DENIED: Client application blocked."),
            (Code::ApiTargetBlocked, 403, "PERMISSION_DENIED:  The API targeted by this request is invalid for the given API key."),
            (Code::ProjectDeleted, 403, "PERMISSION_DENIED: Project has been deleted."),
            (Code::BillingDisabled, 403, "PERMISSION_DENIED: API shop.example.com has billing disabled. Please enable it."),
            (Code::InvalidCredential, 403, "PERMISSION_DENIED: The credential in the request can not be verified."),
            (Code::ConsumerInvalid, 403, "PERMISSION_DENIED: The consumer from the API key does not represent a valid consumer folder or organization."),
            (Code::ResourceExhausted, 429, "RESOURCE_EXHAUSTED: Quota check failed."),
        ];
        for (code, status, message) in cases {
            let reply = reply_of(&with_error(code));
            assert_eq!(
                (reply.status, reply.message.as_str()),
                (status, message),
                "{code:?}"
            );
        }
    }

    #[test]
    fn key_states() {
        let state = |code| match interpret(&with_error(code), "s") {
            CheckOutcome::Denied(d) => d.key_state,
            other => panic!("{other:?}"),
        };
        assert_eq!(state(Code::ApiKeyInvalid), KeyState::Invalid);
        assert_eq!(state(Code::ServiceNotActivated), KeyState::NotEnabled);
    }

    #[test]
    fn unavailable_codes_leave_it_to_the_fail_policy() {
        for code in [
            Code::NamespaceLookupUnavailable,
            Code::ServiceStatusUnavailable,
            Code::BillingStatusUnavailable,
            Code::CloudResourceManagerBackendUnavailable,
        ] {
            assert_eq!(interpret(&with_error(code), "s"), CheckOutcome::Unavailable);
        }
    }

    #[test]
    fn unknown_codes_are_internal_errors() {
        for raw in [0, 9999] {
            let reply = reply_of(&with_raw_error(raw));
            assert_eq!(reply.status, 500);
            assert_eq!(
                reply.message,
                format!("INTERNAL: Request blocked due to unsupported error code: {raw}")
            );
        }
    }
}
