//! The generated manifests as data: multi-document YAML read into JSON values.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// The simulated cluster DNS of the shaped Envoys: a host name's address (panics for a
/// name the test did not declare, as a lookup would fail).
pub fn resolve(addresses: &BTreeMap<String, String>, host: &str) -> String {
    addresses
        .get(host)
        .unwrap_or_else(|| panic!("no address for {host} in the simulated DNS"))
        .clone()
}

/// A cluster of one endpoint, as a control plane makes it for a service port.
pub fn one_endpoint_cluster(name: &str, address: &str, port: u64) -> Value {
    json!({
        "name": name,
        "type": "STRICT_DNS",
        "connect_timeout": "10s",
        "load_assignment": { "cluster_name": name, "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": {
            "socket_address": { "address": address, "port_value": port },
        }}}]}]},
    })
}

/// The documents of a multi-document YAML file.
pub fn documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|document| {
            let value: serde_norway::Value =
                serde::Deserialize::deserialize(document).expect("a YAML document");
            serde_json::to_value(value).expect("YAML that is JSON-shaped")
        })
        .collect()
}

/// The one document of `kind` (panics when there is not exactly one).
pub fn one<'a>(documents: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = documents.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}

/// A Kubernetes-style duration (`15s`, `1.500s`, `15000ms`, `1m40s`, `1h2m3s400ms`) as an
/// Envoy Duration (`100.000s`), as the control planes translate them.
pub fn envoy_duration(text: &str) -> String {
    let mut total_ms = 0f64;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit_ms = match (c, chars.peek()) {
            ('m', Some('s')) => {
                chars.next();
                1.0
            }
            ('h', _) => 3_600_000.0,
            ('m', _) => 60_000.0,
            ('s', _) => 1000.0,
            _ => panic!("{text:?} is not a duration"),
        };
        total_ms += number.parse::<f64>().expect("a number") * unit_ms;
        number.clear();
    }
    assert!(number.is_empty(), "{text:?} has no unit at the end");
    format!("{:.3}s", total_ms / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_the_control_planes_read_them() {
        assert_eq!(envoy_duration("15s"), "15.000s");
        assert_eq!(envoy_duration("1.500s"), "1.500s");
        assert_eq!(envoy_duration("15000ms"), "15.000s");
        assert_eq!(envoy_duration("1m40s"), "100.000s");
        assert_eq!(envoy_duration("1h2m3s400ms"), "3723.400s");
    }
}
