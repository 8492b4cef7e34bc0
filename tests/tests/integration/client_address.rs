//! Where the client address comes from, which decides the Service Control `caller_ip`
//! (what IP-restricted keys are checked against) and the access log's `client=`.
//! ESPv2's defaults trust two proxies' `X-Forwarded-For` entries: with no proxy in front,
//! a client that sends three entries picks its own address. `--envoy-use-remote-address`
//! with `--envoy-xff-num-trusted-hops` says how many proxies really sit in front;
//! `--client-ip-from-forwarded-header` takes it from RFC 7239's `Forwarded: for=`.

use wasp_tests::fake_control::Answer;
use wasp_tests::{CompileInput, EchoBackend, FakeControl, Gateway};

use crate::keys_support::*;

/// A client pretending its request passed through proxies.
const FORGED_XFF: &str = "6.6.6.6, 7.7.7.7, 8.8.8.8";

fn gateway(fake: &FakeControl, args: &[&str]) -> Gateway {
    let paths = operation("/items", "get", "listItems", &[]);
    let input = CompileInput::new(&shop(KEY_REQUIRED, &paths))
        .args(["--producer-project-id", PRODUCER])
        .args(["--service-control-url", &fake.url()])
        .args(args);
    let echo = EchoBackend::start();
    let url = echo.url();
    Gateway::start_compiled(&input, &url, Some(echo))
}

/// Sends a keyed request with `headers`; the caller IP of its Check and the `client=` of
/// its log line.
fn caller_ip(
    gw: &Gateway,
    fake: &FakeControl,
    key: &str,
    headers: &[(&str, &str)],
) -> (String, String) {
    let path = format!("/items?key={key}");
    let (reply, line) = gw.send_logged_line_with("GET", &path, headers);
    assert_eq!(reply.status, 200, "{reply:?}");
    let check = fake.checks().pop().expect("a Check was made");
    let labels = check.operation.expect("an operation").labels;
    let ip = labels
        .get("servicecontrol.googleapis.com/caller_ip")
        .cloned()
        .unwrap_or_default();
    let logged = line
        .split_whitespace()
        .find_map(|field| field.strip_prefix("client="))
        .unwrap_or_else(|| panic!("no client= in {line}"))
        .to_string();
    (ip, logged)
}

#[test]
fn by_default_two_forwarded_entries_are_trusted_as_in_espv2() {
    let fake = FakeControl::start(0, Answer::Allow);
    let gw = gateway(&fake, &[]);
    // The risk the README states: with no proxy in front, the client chose 6.6.6.6.
    let (ip, logged) = caller_ip(&gw, &fake, "AIzaOne", &[("x-forwarded-for", FORGED_XFF)]);
    assert_eq!((ip.as_str(), logged.as_str()), ("6.6.6.6", "6.6.6.6"));
}

#[test]
fn the_connection_address_is_used_when_no_proxy_is_trusted() {
    let fake = FakeControl::start(0, Answer::Allow);
    let gw = gateway(
        &fake,
        &[
            "--envoy-use-remote-address",
            "--envoy-xff-num-trusted-hops",
            "0",
        ],
    );
    let forged = [("x-forwarded-for", FORGED_XFF)];
    for (key, headers) in [("AIzaA", &forged[..]), ("AIzaB", &[])] {
        let (ip, logged) = caller_ip(&gw, &fake, key, headers);
        assert_eq!((ip.as_str(), logged.as_str()), ("127.0.0.1", "127.0.0.1"));
    }
    // Envoy appends the peer to X-Forwarded-For (a loopback peer as this host's address).
    let reply = gw.send("GET", "/items?key=AIzaC", &[("x-forwarded-for", "6.6.6.6")]);
    let forwarded = reply
        .echoed()
        .header("x-forwarded-for")
        .unwrap_or_default()
        .to_string();
    assert!(forwarded.starts_with("6.6.6.6,"), "{forwarded}");
}

#[test]
fn one_trusted_proxy_supplies_the_client_address() {
    let fake = FakeControl::start(0, Answer::Allow);
    let gw = gateway(
        &fake,
        &[
            "--envoy-use-remote-address",
            "--envoy-xff-num-trusted-hops",
            "1",
        ],
    );
    // The proxy (this test) appended the client it saw, 9.9.9.9, after what the client
    // forged; only the proxy's entry is believed.
    let (ip, logged) = caller_ip(
        &gw,
        &fake,
        "AIzaD",
        &[("x-forwarded-for", "6.6.6.6, 9.9.9.9")],
    );
    assert_eq!((ip.as_str(), logged.as_str()), ("9.9.9.9", "9.9.9.9"));
}

#[test]
fn the_caller_ip_can_come_from_the_forwarded_header() {
    let fake = FakeControl::start(0, Answer::Allow);
    let forwarded = "for=\"[2001:db8::7]:4711\";proto=https, for=198.51.100.1";
    let caller = |gw: &Gateway, key: &str| caller_ip(gw, &fake, key, &[("forwarded", forwarded)]).0;
    // By default Forwarded is just a header: the caller is the connection's peer.
    let gw = gateway(&fake, &[]);
    assert_eq!(caller(&gw, "AIzaE"), "127.0.0.1");
    let gw = gateway(&fake, &["--client-ip-from-forwarded-header"]);
    assert_eq!(caller(&gw, "AIzaF"), "2001:db8::7");
    // Without the header the peer is used.
    let (ip, _) = caller_ip(&gw, &fake, "AIzaG", &[]);
    assert_eq!(ip, "127.0.0.1");
}
