//! What an operator sees through real Envoy: per-operation metrics with real Prometheus
//! labels after a known request mix (and the Grafana dashboard querying only metrics that
//! exist), and traces a real OTLP/HTTP receiver gets, named by operation, with the
//! gateway's stage timings, whose trace context reaches the backend and Service Control.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use wasp_tests::fake_control::Answer;
use wasp_tests::idp::{now, JWKS_PATH};
use wasp_tests::metadata::MetadataServer;
use wasp_tests::otlp::OtlpReceiver;
use wasp_tests::tools::repo_root;
use wasp_tests::{
    CompileInput, ControlOptions, ControlledGateway, EchoBackend, FakeControl, Gateway, Idp,
    SigningKey,
};

use crate::keys_support::{get_with_key, MANAGEMENT_LIMIT_5, PRODUCER, SERVICE};

/// One sample of `/stats/prometheus`: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

fn prometheus(gw: &Gateway) -> Vec<Sample> {
    gw.get_admin("/stats/prometheus")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .filter_map(|pair| {
                    let (key, value) = pair.split_once("=\"")?;
                    Some((key.to_string(), value.trim_end_matches('"').to_string()))
                })
                .collect();
            Some((name.to_string(), labels, value.parse().ok()?))
        })
        .collect()
}

/// `name`'s samples as (labels joined `k=v,...`, value), sorted.
fn series(samples: &[Sample], name: &str) -> Vec<(String, u64)> {
    let mut found: Vec<(String, u64)> = samples
        .iter()
        .filter(|(n, _, _)| n == name)
        .map(|(_, labels, value)| {
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            (labels.join(","), *value as u64)
        })
        .collect();
    found.sort();
    found
}

/// The sum of `name`'s samples over every label set.
fn total(samples: &[Sample], name: &str) -> u64 {
    series(samples, name).iter().map(|(_, n)| n).sum()
}

/// The samples once `ready` holds (counters arrive on the filter's tick, histograms on
/// Envoy's stats flush), or panics with what there was.
fn samples_once(gw: &Gateway, what: &str, ready: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let samples = prometheus(gw);
        if ready(&samples) {
            return samples;
        }
        assert!(
            Instant::now() < deadline,
            "{what} never showed: {}",
            gw.get_admin("/stats/prometheus")
                .lines()
                .filter(|l| l.starts_with("wasp_"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn spec(idp: &Idp, backend: &str) -> String {
    format!(
        "swagger: \"2.0\"\ninfo: {{title: shop, version: \"1.0\"}}\nhost: {SERVICE}\nschemes: [http]\n{MANAGEMENT_LIMIT_5}securityDefinitions:\n  api_key: {{type: apiKey, in: query, name: key}}\n  idp:\n    type: oauth2\n    authorizationUrl: \"\"\n    flow: implicit\n    x-google-issuer: \"{}\"\n    x-google-jwks_uri: \"{}\"\npaths:\n  /open:\n    get: {{operationId: open, security: [], responses: {{'200': {{description: ok}}}}}}\n  /items:\n    get: {{operationId: listItems, security: [{{api_key: []}}], x-google-quota: {{metricCosts: {{read-requests: 1}}}}, responses: {{'200': {{description: ok}}}}}}\n  /me:\n    get: {{operationId: me, security: [{{idp: []}}], responses: {{'200': {{description: ok}}}}}}\n  /signed:\n    get: {{operationId: signed, security: [], x-google-backend: {{address: '{backend}', jwt_audience: 'https://signed.example.com'}}, responses: {{'200': {{description: ok}}}}}}\n",
        idp.issuer(),
        idp.url(JWKS_PATH)
    )
}

const OPEN: &str = "1.shop_example_com.Open";
const ITEMS: &str = "1.shop_example_com.ListItems";
const ME: &str = "1.shop_example_com.Me";
const SIGNED: &str = "1.shop_example_com.Signed";

#[test]
fn metrics_count_per_operation_code_class_and_consumer_with_prometheus_labels() {
    let key = SigningKey::rs256("rsa-1", 0);
    let idp = Idp::start(vec![key.clone()]);
    let metadata = MetadataServer::start();
    let echo = EchoBackend::start();
    let backend = echo.url();
    let gw = ControlledGateway::start_behind(
        CompileInput::new(&spec(&idp, &backend)).args([
            "--producer-project-id",
            PRODUCER,
            "--metrics-max-consumers",
            "1",
            "--metadata-url",
            &metadata.url(),
        ]),
        ControlOptions::default(),
        1,
        &backend,
        Some(echo),
    );
    let (acme, beta) = (
        gw.control.create_key("acme", 1),
        gw.control.create_key("beta", 2),
    );
    let token = key.mint(&json!({
        "iss": idp.issuer(), "aud": format!("https://{SERVICE}"), "sub": "u", "exp": now() + 600,
    }));
    let status = |path: &str| gw.get(path).status;
    assert_eq!(
        [status("/open"), status("/open"), status("/open")],
        [200; 3]
    );
    assert_eq!(get_with_key(&gw, "/items", &acme.key).status, 200);
    assert_eq!(get_with_key(&gw, "/items", &acme.key).status, 200);
    // Past the limit of one labelled consumer per worker: `other`.
    assert_eq!(get_with_key(&gw, "/items", &beta.key).status, 200);
    assert_eq!(status("/items"), 401);
    assert_eq!(get_with_key(&gw, "/items", "not-a-key").status, 400);
    let bearer = format!("Bearer {token}");
    assert_eq!(
        gw.send("GET", "/me", &[("authorization", &bearer)]).status,
        200
    );
    assert_eq!(status("/me"), 401);
    assert_eq!(status("/nothing"), 404);
    // With an ID token from the metadata server.
    assert_eq!(status("/signed"), 200);

    let samples = samples_once(&gw, "the request counts", |s| {
        total(s, "wasp_requests_total") == 12
    });
    let row = |labels: String, n: u64| (labels, n);
    assert_eq!(
        series(&samples, "wasp_requests_total"),
        [
            row(format!("code_class=2xx,consumer=none,operation={ME}"), 1),
            row(format!("code_class=2xx,consumer=none,operation={OPEN}"), 3),
            row(
                format!("code_class=2xx,consumer=none,operation={SIGNED}"),
                1
            ),
            row(
                format!("code_class=2xx,consumer=other,operation={ITEMS}"),
                1
            ),
            row(
                format!("code_class=2xx,consumer=project:1,operation={ITEMS}"),
                2
            ),
            row(format!("code_class=4xx,consumer=none,operation={ITEMS}"), 2),
            row(format!("code_class=4xx,consumer=none,operation={ME}"), 1),
            row("code_class=4xx,consumer=none,operation=unknown".into(), 1),
        ]
    );
    assert_eq!(
        series(&samples, "wasp_denials_total"),
        [
            (format!("operation={ITEMS},reason=key_invalid"), 1),
            (format!("operation={ITEMS},reason=key_missing"), 1),
            (format!("operation={ME},reason=jwt_missing"), 1),
            ("operation=unknown,reason=not_found".to_string(), 1),
        ]
    );
    assert_eq!(
        series(&samples, "wasp_jwks_fetches_total"),
        [("provider=idp,result=ok".to_string(), 1)]
    );
    assert_eq!(
        series(&samples, "wasp_id_token_fetches_total"),
        [("result=ok".to_string(), 1)]
    );

    // Latency histograms: each request counted once per histogram it belongs to.
    let samples = samples_once(&gw, "the latency histograms", |s| {
        total(s, "wasp_request_duration_milliseconds_count") == 12
    });
    let count = |name: &str, operation: &str| {
        series(&samples, name)
            .into_iter()
            .find(|(labels, _)| labels == &format!("operation={operation}"))
            .map(|(_, n)| n)
    };
    assert_eq!(
        count("wasp_request_duration_milliseconds_count", OPEN),
        Some(3)
    );
    assert_eq!(
        count("wasp_request_duration_milliseconds_count", ITEMS),
        Some(5)
    );
    // Only requests that went on reach the backend: 3 of the 5 to /items.
    assert_eq!(
        count("wasp_backend_duration_milliseconds_count", ITEMS),
        Some(3)
    );
    // The gateway's own time is summed (whole ms: 0 or more) for the same 3.
    assert!(count("wasp_gateway_time_milliseconds_total", ITEMS).is_some());
    assert_eq!(
        count("wasp_backend_duration_milliseconds_count", "unknown"),
        None
    );
    // Prometheus histogram buckets: cumulative, every bound present, `+Inf` = the count.
    let buckets: Vec<(String, u64)> = series(&samples, "wasp_request_duration_milliseconds_bucket")
        .into_iter()
        .filter(|(labels, _)| labels.ends_with(&format!("operation={OPEN}")))
        .collect();
    assert_eq!(buckets.len(), 15, "{buckets:?}");
    assert!(
        buckets.contains(&(format!("le=+Inf,operation={OPEN}"), 3)),
        "{buckets:?}"
    );

    // Every metric the dashboard queries exists now.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("grafana/wasp-dashboard.json")).unwrap(),
    )
    .unwrap();
    let mut queried = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            queried.extend(metric_names(expr));
        }
    }
    queried.sort();
    queried.dedup();
    assert!(queried.len() >= 8, "{queried:?}");
    let exported: Vec<&str> = samples.iter().map(|(n, _, _)| n.as_str()).collect();
    for name in &queried {
        assert!(
            exported.contains(&name.as_str()),
            "the dashboard queries {name}, which Envoy does not export"
        );
    }
}

/// The `wasp_*` metric names in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("wasp_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

#[test]
fn traces_reach_an_otlp_receiver_named_by_operation_with_stage_timings() {
    let receiver = OtlpReceiver::start();
    let fake = FakeControl::start(0, Answer::Allow);
    let echo = EchoBackend::start();
    let url = echo.url();
    let spec = format!(
        "swagger: \"2.0\"\ninfo: {{title: shop, version: \"1.0\"}}\nhost: {SERVICE}\nschemes: [http]\nsecurityDefinitions:\n  api_key: {{type: apiKey, in: query, name: key}}\npaths:\n  /items:\n    get: {{operationId: listItems, security: [{{api_key: []}}], responses: {{'200': {{description: ok}}}}}}\n"
    );
    let input = CompileInput::new(&spec).args([
        "--producer-project-id",
        PRODUCER,
        "--service-control-url",
        &fake.url(),
        "--tracing",
        &format!("otlp={}", receiver.addr),
        "--tracing-sample-rate",
        "1",
        "--access-log-format",
        "json",
    ]);
    let gw = Gateway::start_compiled(&input, &url, Some(echo));

    // A client in a trace: the gateway's span joins it, and the context goes on.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_context = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let reply = gw.send(
        "GET",
        "/items?key=AIzaTraced",
        &[("traceparent", &client_context)],
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = reply.echoed();
    let backend_context = seen
        .header("traceparent")
        .expect("the backend gets a traceparent");
    assert!(
        backend_context.starts_with(&format!("00-{trace_id}-"))
            && backend_context != client_context,
        "the backend's parent is the gateway's span: {backend_context}"
    );
    let check = fake
        .calls()
        .into_iter()
        .find(|c| c.path.ends_with(":check"))
        .expect("a Check call");
    assert_eq!(check.traceparent.as_deref(), Some(client_context.as_str()));

    // A request in no trace starts one (sample rate 1).
    let reply = gw.send("GET", "/items?key=AIzaTraced", &[]);
    let fresh = reply
        .echoed()
        .header("traceparent")
        .map(str::to_string)
        .expect("a new trace");

    let spans = receiver.wait_for(2, Duration::from_secs(15));
    let span = |trace: &str| {
        spans
            .iter()
            .find(|r| r.span.trace_id_hex() == trace)
            .unwrap_or_else(|| panic!("no span of trace {trace} in {spans:?}"))
    };
    let joined = span(trace_id);
    assert_eq!(joined.service, SERVICE);
    assert_eq!(joined.span.name, ITEMS);
    assert_eq!(joined.span.parent_span_id, hex("00f067aa0ba902b7"));
    assert_eq!(
        joined.span.attribute("wasp.operation").as_deref(),
        Some(ITEMS)
    );
    let stages = joined.span.attribute("wasp.stages").expect("stage timings");
    let parts: Vec<&str> = stages.split(' ').collect();
    let names: Vec<&str> = parts
        .iter()
        .filter_map(|p| p.split_once('=').map(|(n, _)| n))
        .collect();
    assert_eq!(
        names,
        ["jwt", "service_control", "id_token", "total"],
        "{stages}"
    );
    assert!(parts.iter().all(|p| p.ends_with("ms")), "{stages}");
    assert_eq!(
        joined.span.attribute("http.status_code").as_deref(),
        Some("200")
    );
    assert!(joined.span.end_time_unix_nano >= joined.span.start_time_unix_nano);
    let fresh_id = fresh.split('-').nth(1).expect("a W3C traceparent");
    assert_eq!(span(fresh_id).span.name, ITEMS);

    // The JSON access log names each request's trace (Envoy writes it out within a second).
    let logged_trace = |id: &str| {
        gw.envoy
            .access_log_line(&format!("\"trace_id\":\"{id}\""), Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no log line of trace {id}: {}", gw.envoy.access_log()))
    };
    for id in [trace_id, fresh_id] {
        let line: serde_json::Value = serde_json::from_str(&logged_trace(id)).unwrap();
        assert_eq!(line["operation"], ITEMS, "{line}");
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}
