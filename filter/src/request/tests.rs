//! Whole requests, natively: a head goes through the real decision, then events drive the
//! request through its stages with real ES256 tokens and keys and real Service Control
//! messages; each test reads the steps the host would execute.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_simple::prelude::Clock;
use wasp_config::service_control::{ControlClientConfig, FailPolicy, OperationControl};
use wasp_config::{
    BackendAuth, FilterConfig, IdTokenSource, JwksCluster, JwksSource, Operation, PathTranslation,
    Provider, Route,
};
use wasp_control_client::{ControlState, OperationIds};
use wasp_jwt::parse_key_document;
use wasp_jwt::refresh::JwksState;
use wasp_servicecontrol::check_error::Code as CheckCode;
use wasp_servicecontrol::check_response::consumer_info::ConsumerType;
use wasp_servicecontrol::check_response::{CheckInfo, ConsumerInfo};
use wasp_servicecontrol::{CheckError, CheckRequest, CheckResponse, Message};

use super::*;
use crate::decision::{decide, Decision};
use crate::head::Head;
use crate::jwt_auth::ProviderKeys;
use crate::requests::Requests;
use crate::test_support::{self, jwt_required, Idp};

const ISSUER: &str = "https://issuer.example";
const SERVICE: &str = "api.example.com";
const OPEN: &str = "1.api.Open";
const SIGNED: &str = "1.api.Signed";
const KEYED: &str = "1.api.Keyed";
const BACKED: &str = "1.api.Backed";

fn now_ms() -> u64 {
    Clock::now_since_epoch().as_millis()
}

fn operation(name: &str, template: &str) -> Operation {
    test_support::operation(name, "GET", template)
}

fn config() -> FilterConfig {
    let mut open = operation(OPEN, "/v1/open/{id}");
    open.path_translation = Some(PathTranslation::AppendPathToAddress {
        prefix: "/base".into(),
    });
    let mut signed = operation(SIGNED, "/v1/signed");
    signed.security = Some(jwt_required("idp"));
    let mut backed = operation(BACKED, "/v1/backed");
    backed.backend_auth = Some(BackendAuth {
        audience: "https://backend.example".into(),
    });
    FilterConfig {
        config_hash: "h".into(),
        service_name: SERVICE.into(),
        operations: vec![open, signed, operation(KEYED, "/v1/keyed"), backed],
        routes: vec![Route {
            id: "r1".into(),
            cluster: "backend".into(),
        }],
        id_token_source: Some(IdTokenSource::gcp("metadata")),
        providers: vec![Provider::new(
            "idp",
            ISSUER,
            JwksSource::Uri(format!("{ISSUER}/jwks")),
        )],
        jwks_clusters: vec![JwksCluster {
            origin: ISSUER.into(),
            cluster: "idp".into(),
        }],
        ..FilterConfig::default()
    }
}

fn control_config(policy: FailPolicy) -> ControlClientConfig {
    let mut config = ControlClientConfig::from_json(
        br#"{"service_name": "api.example.com", "producer_project_id": "producer",
             "endpoint": {"cluster": "control", "authority": "control.local"}}"#,
    )
    .unwrap();
    config.network_fail_policy = policy;
    config.operations = vec![OperationControl {
        name: KEYED.into(),
        api_key_required: true,
        ..OperationControl::default()
    }];
    config
}

/// The host's reads: ID tokens as the root's cache would answer, the connection's address.
#[derive(Default)]
struct Host {
    tokens: HashMap<String, TokenAnswer>,
    source_reads: usize,
}

impl Lookups for Host {
    fn id_token(&mut self, audience: &str, _now_ms: u64) -> TokenAnswer {
        self.tokens
            .get(audience)
            .cloned()
            .unwrap_or(TokenAnswer::Wait)
    }

    fn source_address(&mut self) -> String {
        self.source_reads += 1;
        "198.51.100.4:5123".into()
    }
}

/// One VM: the gateway and the state its requests share.
struct World {
    gateway: Gateway,
    keys: KeyViews,
    verifier: Verifier,
    control: Option<(
        ControlClientConfig,
        Vec<Option<usize>>,
        ControlState,
        OperationIds,
    )>,
    host: Host,
}

impl World {
    fn new(mut config: FilterConfig) -> World {
        let gateway = Gateway::build(config.clone()).unwrap();
        let control = config.service_control.take().map(|control| {
            let index =
                crate::service_control::operation_index(&control, gateway.operation_names());
            let state = ControlState::new(&control);
            (control, index, state, OperationIds::new(7))
        });
        World {
            keys: KeyViews {
                providers: vec![ProviderKeys::default()],
            },
            gateway,
            verifier: Verifier::default(),
            control,
            host: Host::default(),
        }
    }

    fn with_control(policy: FailPolicy) -> World {
        World::new(FilterConfig {
            service_control: Some(control_config(policy)),
            ..config()
        })
    }

    /// A request's head through the real decision, and the event that starts its stages.
    fn arrive(&mut self, path: &str, more: &[(&str, &str)]) -> (Request, Event) {
        let mut headers = vec![
            (":method".to_string(), "GET".to_string()),
            (":path".to_string(), path.to_string()),
            (":authority".to_string(), SERVICE.to_string()),
        ];
        headers.extend(more.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        let headers = Rc::new(headers);
        let gateway = &self.gateway;
        let head = Head::from_headers(&headers, false, &gateway.generated);
        let Decision::Forward(forward) = decide(gateway, &head) else {
            panic!("{path} was answered before routing");
        };
        let onward = Onward::from_forward(&forward, Rc::clone(&headers));
        (
            Request::new(Some(Trace::new(now_ms()))),
            Event::Start(onward),
        )
    }

    fn on(&mut self, request: &mut Request, event: Event) -> Vec<Step> {
        self.on_at(request, event, now_ms())
    }

    fn on_at(&mut self, request: &mut Request, event: Event, now_ms: u64) -> Vec<Step> {
        let control = self
            .control
            .as_mut()
            .map(|(config, operations, state, ids)| ControlVm {
                config,
                operations,
                state,
                ids,
            });
        let mut vm = Vm {
            gateway: &self.gateway,
            keys: &mut self.keys,
            verifier: &mut self.verifier,
            control,
        };
        request.on(event, &mut vm, &mut self.host, now_ms)
    }

    /// The provider's keys arrive, as the root's fetch leaves them in this VM's view.
    fn keys_fetched(&mut self, document: &[u8]) {
        let now = now_ms() / 1000;
        let mut state = JwksState::default();
        state.plan_tick(&RefreshPolicy::default(), now);
        let generation = state.on_keys_fetched(now, "h".into());
        self.keys.providers[0] = ProviderKeys {
            state,
            state_cas: Some(1),
            keys: Some(parse_key_document(document).unwrap()),
            generation,
            kid_refresh_wanted: false,
        };
    }
}

fn header<'s>(steps: &'s [Step], name: &str) -> Option<&'s str> {
    steps.iter().find_map(|step| match step {
        Step::SetHeader(n, value) if n.eq_ignore_ascii_case(name) => Some(value.as_str()),
        _ => None,
    })
}

fn reply(steps: &[Step]) -> &LocalReply {
    match steps.last() {
        Some(Step::Reply(local)) => local,
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn callout(steps: &[Step]) -> &Callout {
    match steps.last() {
        Some(Step::CallOut { callout, .. }) => callout,
        other => panic!("expected a Service Control call, got {other:?}"),
    }
}

fn answer(message: &impl Message) -> Event {
    Event::ControlAnswer(CalloutResult::Response {
        status: Some(200),
        body: message.encode_to_vec(),
    })
}

fn allowed(number: i64) -> CheckResponse {
    CheckResponse {
        check_info: Some(CheckInfo {
            unused_arguments: vec![],
            consumer_info: Some(ConsumerInfo {
                project_number: number,
                r#type: ConsumerType::Project as i32,
                consumer_number: number,
            }),
        }),
        ..CheckResponse::default()
    }
}

#[test]
fn an_open_operation_goes_on_at_once_with_its_translated_path() {
    let mut world = World::new(config());
    let (mut request, start) = world.arrive("/v1/open/7?x=1", &[]);
    let steps = world.on(&mut request, start);
    assert_eq!(
        steps,
        vec![
            Step::SetHeader(":path".into(), "/base/v1/open/7?x=1".into()),
            Step::Forward
        ]
    );
    assert!(matches!(request.stage(), Stage::Forwarded));
    let trace = request.trace().unwrap();
    assert_eq!(trace.operation_index, Some(0));
    assert!(trace.forwarded_ms.is_some());
}

#[test]
fn a_jwt_waits_for_the_first_keys_then_goes_on_with_its_user_info() {
    let idp = Idp::new("k1");
    let mut world = World::new(config());
    let token = idp.token(ISSUER, &format!("https://{SERVICE}"));
    let (mut request, start) = world.arrive(
        "/v1/signed",
        &[("authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(world.on(&mut request, start), vec![Step::Wait]);
    assert!(request.is_waiting());
    let Stage::Keys { providers, .. } = request.stage() else {
        panic!("waits for {:?}", request.stage());
    };
    assert_eq!(providers, &vec![0]);

    world.keys_fetched(&idp.jwks());
    let steps = world.on(&mut request, Event::KeysSettled);
    assert_eq!(steps.last(), Some(&Step::Forward));
    let userinfo = header(&steps, "x-endpoint-api-userinfo").expect("the user info is set");
    let payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(userinfo).unwrap()).unwrap();
    assert_eq!(payload["sub"], "user-7");
    assert_eq!(payload["iss"], ISSUER);

    // The next request is decided at once, from this VM's keys.
    let (mut next, start) = world.arrive(
        "/v1/signed",
        &[("authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(world.on(&mut next, start).last(), Some(&Step::Forward));
}

#[test]
fn keys_that_never_come_end_the_wait_in_a_401_at_its_deadline() {
    let idp = Idp::new("k1");
    let mut world = World::new(config());
    let (mut request, start) = world.arrive(
        "/v1/signed",
        &[(
            "authorization",
            &format!(
                "Bearer {}",
                idp.token(ISSUER, &format!("https://{SERVICE}"))
            ),
        )],
    );
    let at = now_ms();
    assert_eq!(world.on_at(&mut request, start, at), vec![Step::Wait]);
    let Stage::Keys { deadline_ms, .. } = *request.stage() else {
        panic!("not waiting for keys");
    };
    assert!(deadline_ms > at, "a deadline after now");
    let steps = world.on(&mut request, Event::Deadline);
    assert_eq!(reply(&steps).status(), 401);
    assert!(matches!(request.stage(), Stage::Answered));
}

#[test]
fn a_missing_token_is_401_without_waiting_for_keys() {
    let mut world = World::new(config());
    let (mut request, start) = world.arrive("/v1/signed", &[]);
    let steps = world.on(&mut request, start);
    let local = reply(&steps);
    assert_eq!(local.status(), 401);
    assert!(matches!(local, LocalReply::Jwt { realm, .. } if realm == SERVICE));
}

#[test]
fn an_api_key_is_checked_then_its_consumer_goes_to_the_backend() {
    let mut world = World::with_control(FailPolicy::Open);
    let (mut request, start) =
        world.arrive("/v1/keyed?key=abc", &[("x-forwarded-for", "203.0.113.9")]);
    let steps = world.on(&mut request, start);
    let check = CheckRequest::decode(callout(&steps).body.as_slice()).unwrap();
    let sent = check.operation.unwrap();
    assert_eq!(sent.consumer_id, "api_key:abc");
    assert_eq!(sent.operation_name, KEYED);
    assert!(request.is_waiting());
    assert_eq!(world.host.source_reads, 1, "the head named no caller");

    let steps = world.on(&mut request, answer(&allowed(123)));
    assert_eq!(steps.last(), Some(&Step::Forward));
    assert!(steps.contains(&Step::SetProperty(
        wasp_config::CONSUMER_PROPERTY,
        "project:123".into()
    )));
    assert_eq!(
        header(&steps, "x-endpoint-api-consumer-number"),
        Some("123")
    );
    assert_eq!(
        header(&steps, "x-endpoint-api-consumer-type"),
        Some("PROJECT")
    );
    let trace = request.trace().unwrap();
    assert_eq!(trace.consumer.as_deref(), Some("project:123"));
    assert_eq!(trace.log.api_key.as_deref(), Some("abc"));
    assert_eq!(trace.operation.as_deref(), Some(KEYED), "reported by name");

    // The same key again: the Check cache answers, no call.
    let (mut again, start) = world.arrive("/v1/keyed?key=abc", &[]);
    let steps = world.on(&mut again, start);
    assert_eq!(steps.last(), Some(&Step::Forward));
}

#[test]
fn an_invalid_key_is_answered_with_the_check_error() {
    let mut world = World::with_control(FailPolicy::Open);
    let (mut request, start) = world.arrive("/v1/keyed?key=bad", &[]);
    world.on(&mut request, start);
    let invalid = CheckResponse {
        check_errors: vec![CheckError {
            code: CheckCode::ApiKeyInvalid as i32,
            ..CheckError::default()
        }],
        ..CheckResponse::default()
    };
    let steps = world.on(&mut request, answer(&invalid));
    assert_eq!(reply(&steps).status(), 400);
    assert!(request.trace().unwrap().consumer.is_none());
}

/// Feeds `Failed` for every call, as the host does when a call cannot be dispatched.
fn unreachable_control(
    world: &mut World,
    request: &mut Request,
    mut steps: Vec<Step>,
) -> Vec<Step> {
    let mut calls = 0;
    while let Some(Step::CallOut { .. }) = steps.last() {
        calls += 1;
        assert!(calls < 10, "the flow keeps calling");
        let failed = Event::ControlAnswer(CalloutResult::Failed("no cluster".into()));
        steps = world.on(request, failed);
    }
    assert!(calls > 1, "a failed Check is retried");
    steps
}

#[test]
fn an_unreachable_control_service_follows_the_fail_policy() {
    let mut closed = World::with_control(FailPolicy::Closed);
    let (mut request, start) = closed.arrive("/v1/keyed?key=abc", &[]);
    let steps = closed.on(&mut request, start);
    let steps = unreachable_control(&mut closed, &mut request, steps);
    assert_eq!(reply(&steps).status(), 503);

    let mut open = World::with_control(FailPolicy::Open);
    let (mut request, start) = open.arrive("/v1/keyed?key=abc", &[]);
    let steps = open.on(&mut request, start);
    let steps = unreachable_control(&mut open, &mut request, steps);
    assert_eq!(steps.last(), Some(&Step::Forward));
}

#[test]
fn backend_auth_waits_for_the_id_token_then_moves_the_client_authorization() {
    let mut world = World::new(config());
    let (mut request, start) = world.arrive("/v1/backed", &[("authorization", "Bearer client")]);
    assert_eq!(world.on(&mut request, start), vec![Step::Wait]);
    assert!(
        matches!(request.stage(), Stage::Token { audience, .. } if audience == "https://backend.example")
    );
    let steps = world.on(&mut request, Event::TokenReady("id-token".into()));
    assert_eq!(
        steps,
        vec![
            Step::RemoveHeader("x-forwarded-authorization".into()),
            Step::SetHeader("x-forwarded-authorization".into(), "Bearer client".into()),
            Step::RemoveHeader("authorization".into()),
            Step::SetHeader("authorization".into(), "Bearer id-token".into()),
            Step::Forward,
        ]
    );
    // A token already cached is attached at once.
    world.host.tokens.insert(
        "https://backend.example".into(),
        TokenAnswer::Ready("cached".into()),
    );
    let (mut next, start) = world.arrive("/v1/backed", &[]);
    let steps = world.on(&mut next, start);
    assert_eq!(header(&steps, "authorization"), Some("Bearer cached"));
}

#[test]
fn an_id_token_that_does_not_come_is_500_token_not_found() {
    let mut world = World::new(config());
    for event in [Event::Deadline, Event::TokenUnavailable] {
        let (mut request, start) = world.arrive("/v1/backed", &[]);
        world.on(&mut request, start);
        let steps = world.on(&mut request, event);
        assert_eq!(
            reply(&steps),
            &LocalReply::TokenNotFound {
                audience: "https://backend.example".into()
            }
        );
    }
}

#[test]
fn events_a_request_does_not_wait_for_change_nothing() {
    let mut world = World::new(config());
    let (mut request, start) = world.arrive("/v1/open/1", &[]);
    world.on(&mut request, start);
    for stray in [
        Event::KeysSettled,
        Event::Deadline,
        Event::TokenReady("t".into()),
        Event::ControlAnswer(CalloutResult::Failed("late".into())),
    ] {
        assert!(world.on(&mut request, stray).is_empty());
        assert!(matches!(request.stage(), Stage::Forwarded));
    }
    // A client that left: its token, when it comes, is dropped.
    let (mut gone, start) = world.arrive("/v1/backed", &[]);
    world.on(&mut gone, start);
    gone.gone();
    assert!(world
        .on(&mut gone, Event::TokenReady("t".into()))
        .is_empty());
    assert!(!gone.is_waiting());
}

#[test]
fn with_tracing_the_stage_timings_go_to_the_span() {
    let mut world = World::new(FilterConfig {
        trace_stages: true,
        ..config()
    });
    let (mut request, start) = world.arrive("/v1/open/1", &[]);
    let steps = world.on(&mut request, start);
    let Some(Step::SetProperty(name, stages)) = steps.iter().rev().nth(1) else {
        panic!("no stage timings in {steps:?}");
    };
    assert_eq!(*name, wasp_config::STAGES_PROPERTY);
    assert!(stages.starts_with("jwt=0ms service_control=0ms id_token=0ms"));
}

#[test]
fn the_vm_keeps_waiting_and_traced_requests_and_says_whom_an_answer_wakes() {
    let idp = Idp::new("k1");
    let mut world = World::new(config());
    let mut requests = Requests::default();
    let bearer = format!(
        "Bearer {}",
        idp.token(ISSUER, &format!("https://{SERVICE}"))
    );
    let at = now_ms();
    let mut arrive = |world: &mut World, id: u32, path: &str| {
        let (mut request, start) = world.arrive(path, &[("authorization", &bearer)]);
        world.on_at(&mut request, start, at);
        requests.keep(id, request);
    };
    arrive(&mut world, 3, "/v1/signed");
    arrive(&mut world, 1, "/v1/signed");
    arrive(&mut world, 2, "/v1/backed");
    arrive(&mut world, 4, "/v1/open/1");
    assert!(requests.is_waiting(1) && requests.is_waiting(2) && requests.is_waiting(3));
    assert!(!requests.is_waiting(4));

    assert!(requests.keys_settled(at, |_| false).is_empty());
    assert_eq!(
        requests.keys_settled(at, |_| true),
        vec![1, 3],
        "arrival order"
    );
    assert_eq!(
        requests.keys_settled(u64::MAX, |_| false),
        vec![1, 3],
        "deadline"
    );
    assert_eq!(
        requests.awaited_audiences(),
        vec!["https://backend.example"]
    );
    assert_eq!(requests.awaiting_token("https://backend.example"), vec![2]);
    assert!(requests.token_waits_over(at).is_empty());
    assert_eq!(requests.token_waits_over(u64::MAX), vec![2]);

    // The client of 2 left: it waits no more, and its trace stays for the report.
    requests.client_gone(2);
    assert!(!requests.is_waiting(2));
    assert!(requests
        .awaiting_token("https://backend.example")
        .is_empty());
    assert!(requests.finish(2).is_some());
    assert!(requests.finish(2).is_none());

    // An untraced request is kept only while it waits.
    let (_, start) = world.arrive("/v1/open/1", &[]);
    let mut untraced = Request::new(None);
    world.on(&mut untraced, start);
    requests.keep(9, untraced);
    assert!(requests.take(9).is_none());
}

#[test]
fn a_request_answered_after_its_steps_were_decided_is_not_counted_as_forwarded() {
    let mut world = World::new(config());
    let (mut request, start) = world.arrive("/v1/open/7", &[]);
    assert_eq!(world.on(&mut request, start).last(), Some(&Step::Forward));
    // The host could not set `:path`: it answers 500 itself.
    request.answered();
    assert!(matches!(request.stage(), Stage::Answered));
    assert_eq!(request.trace().unwrap().forwarded_ms, None);
}

fn is_terminal(step: &Step) -> bool {
    matches!(
        step,
        Step::Reply(_) | Step::Forward | Step::Wait | Step::CallOut { .. }
    )
}

fn any_event() -> impl proptest::strategy::Strategy<Value = Event> {
    use proptest::prelude::*;
    prop_oneof![
        Just(Event::KeysSettled),
        Just(Event::Deadline),
        Just(Event::TokenUnavailable),
        "[a-z.]{0,12}".prop_map(Event::TokenReady),
        "[a-z ]{0,12}".prop_map(|reason| Event::ControlAnswer(CalloutResult::Failed(reason))),
        (
            proptest::option::of(100u16..600),
            proptest::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(
                |(status, body)| Event::ControlAnswer(CalloutResult::Response { status, body })
            ),
        (1i64..1_000_000).prop_map(|number| answer(&allowed(number))),
    ]
}

proptest::proptest! {
    /// Whatever arrives, in whatever order: no panic, each answer ends in exactly one step that
    /// ends it (reply, forward, wait or call), a request waits exactly when its last answer
    /// said so, and one that was answered or forwarded takes no further step.
    #[test]
    fn any_sequence_of_events_leaves_a_request_well_formed(
        path in proptest::sample::select(vec![
            "/v1/open/7", "/v1/signed", "/v1/keyed?key=abc", "/v1/keyed", "/v1/backed",
        ]),
        bearer in proptest::bool::ANY,
        policy in proptest::sample::select(vec![FailPolicy::Open, FailPolicy::Closed]),
        events in proptest::collection::vec(any_event(), 0..12),
    ) {
        let mut world = World::with_control(policy);
        let token = Idp::new("k1").token(ISSUER, &format!("https://{SERVICE}"));
        let authorization = format!("Bearer {token}");
        let headers: Vec<(&str, &str)> = if bearer {
            vec![("authorization", authorization.as_str())]
        } else {
            vec![]
        };
        let (mut request, start) = world.arrive(path, &headers);
        let mut ended = false;
        for event in std::iter::once(start).chain(events) {
            let steps = world.on(&mut request, event);
            if ended {
                proptest::prop_assert!(steps.is_empty(), "a step after the end: {steps:?}");
                continue;
            }
            if steps.is_empty() {
                continue; // An event its stage does not wait for.
            }
            let (last, before) = steps.split_last().unwrap();
            proptest::prop_assert!(is_terminal(last), "no final step in {steps:?}");
            proptest::prop_assert!(!before.iter().any(is_terminal), "a final step early: {steps:?}");
            let waits = matches!(last, Step::Wait | Step::CallOut { .. });
            proptest::prop_assert_eq!(request.is_waiting(), waits);
            ended = !waits;
        }
    }
}
