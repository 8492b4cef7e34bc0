//! What the API-key, quota, report and control-service tests share: ESPv2's exact
//! messages, the consumer headers, and a small spec builder for `shop.example.com`.

use wasp_tests::{Gateway, Reply};

/// A required key is missing (401).
pub const MISSING_KEY: &str = "UNAUTHENTICATED: Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.";
/// Check said the key is unknown or revoked (400).
pub const INVALID_KEY: &str = "INVALID_ARGUMENT: API key not valid. Please pass a valid API key.";
/// Two different keys in one request (400).
pub const TWO_KEYS: &str =
    "INVALID_ARGUMENT: The request carries more than one API key; send exactly one.";

/// Set by the gateway after a successful Check; client copies never reach the backend.
pub const CONSUMER_TYPE: &str = "x-endpoint-api-consumer-type";
pub const CONSUMER_NUMBER: &str = "x-endpoint-api-consumer-number";

/// The service every spec here describes, and its producer project (for quota).
pub const SERVICE: &str = "shop.example.com";
pub const PRODUCER: &str = "shop-producer";

/// The selector of `operationId` `id` (`listItems` -> `1.shop_example_com.ListItems`).
pub fn op(id: &str) -> String {
    let mut chars = id.chars();
    let upper: String = chars
        .next()
        .map(|c| c.to_ascii_uppercase())
        .into_iter()
        .chain(chars)
        .collect();
    format!("1.shop_example_com.{upper}")
}

/// An OpenAPI 2.0 document for [`SERVICE`]: `top` at the top level (securityDefinitions,
/// security, x-google-management, ...; keys at column 0) and `paths` under `paths:`
/// (column 2).
pub fn shop(top: &str, paths: &str) -> String {
    format!(
        "swagger: \"2.0\"\ninfo: {{title: shop, version: \"1.0\"}}\nhost: {SERVICE}\nschemes: [http]\n{top}\npaths:\n{paths}"
    )
}

/// The default apiKey scheme (`in: query, name: key`, which stands for ESPv2's default
/// locations) and a top-level requirement for it.
pub const KEY_REQUIRED: &str = "securityDefinitions:\n  api_key: {type: apiKey, in: query, name: key}\nsecurity:\n  - api_key: []\n";

/// One operation: `method` on `path` with `extra` flow-style fields (`security: []`, ...).
pub fn operation(path: &str, method: &str, id: &str, extra: &[&str]) -> String {
    let mut fields = format!("operationId: {id}, responses: {{'200': {{description: ok}}}}");
    for field in extra {
        fields.push_str(", ");
        fields.push_str(field);
    }
    format!("  {path}:\n    {method}: {{{fields}}}\n")
}

/// `GET path` with `headers`; the key, if any, is already in `path` or `headers`.
pub fn get(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> Reply {
    gw.send("GET", path, headers)
}

/// `GET path?key=<key>` (or `&key=` when `path` has a query).
pub fn get_with_key(gw: &Gateway, path: &str, key: &str) -> Reply {
    let separator = if path.contains('?') { '&' } else { '?' };
    gw.get(&format!("{path}{separator}key={key}"))
}

/// The reply came from the backend (200) and the backend saw this consumer.
pub fn assert_consumer(reply: &Reply, number: i64) {
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = reply.echoed();
    assert_eq!(seen.header(CONSUMER_TYPE), Some("PROJECT"), "{seen:?}");
    assert_eq!(
        seen.header(CONSUMER_NUMBER),
        Some(number.to_string().as_str()),
        "{seen:?}"
    );
}

/// The reply came from the backend (200) and the backend saw no consumer headers.
pub fn assert_no_consumer(reply: &Reply) {
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = reply.echoed();
    assert_eq!(seen.header(CONSUMER_TYPE), None, "{seen:?}");
    assert_eq!(seen.header(CONSUMER_NUMBER), None, "{seen:?}");
}

/// `x-google-management`: metric `read-requests` ("Read requests") limited by `read-limit`
/// to 5 per minute per consumer project.
pub const MANAGEMENT_LIMIT_5: &str = "x-google-management:\n  metrics:\n    - {name: read-requests, displayName: Read requests, valueType: INT64, metricKind: DELTA}\n  quota:\n    limits:\n      - {name: read-limit, metric: read-requests, unit: \"1/min/{project}\", values: {STANDARD: 5}}\n";

/// [`MANAGEMENT_LIMIT_5`] with `limit` units per minute instead.
pub fn management_with_limit(limit: usize) -> String {
    MANAGEMENT_LIMIT_5.replace("STANDARD: 5", &format!("STANDARD: {limit}"))
}

/// The 429 message for [`MANAGEMENT_LIMIT_5`] when `consumer` (`project:<id>`) is over it.
pub fn quota_exceeded(consumer: &str) -> String {
    format!(
        "RESOURCE_EXHAUSTED: Quota exceeded for quota metric 'Read requests' and limit 'read-limit (5 per minute per project)' of service '{SERVICE}' for consumer '{consumer}'."
    )
}

/// The filter's Envoy counter `name` (exported on the root's tick) once it reaches `at_least`,
/// or its value after a few seconds.
pub fn wait_for_counter(gw: &Gateway, name: &str, at_least: u64) -> u64 {
    let stat = format!("wasmcustom.{name}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let stats = gw.get_admin(&format!("/stats?filter={stat}"));
        let value = stats
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{stat}: ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if value >= at_least || std::time::Instant::now() > deadline {
            return value;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
