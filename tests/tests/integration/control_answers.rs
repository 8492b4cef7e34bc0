//! A control service that answers 200 with something unusable: bytes that are no protobuf
//! of the expected message, or a body over the 64 KiB the filter reads. That is a broken
//! control service, which a client cannot tell from a down one: the fail policy applies
//! (open: the request goes on; closed: ESPv2's 503), the call is not retried, it is counted
//! (`wasp.service_control.bad_answers`) and logged once per interval.

use wasp_tests::expect::{local_reply, local_reply_starting};
use wasp_tests::fake_control::Answer;
use wasp_tests::{CompileInput, EchoBackend, FakeControl, Gateway};

use crate::keys_support::*;

const GARBAGE: [u8; 4] = [0xff, 0xff, 0xff, 0xff];
/// Just over the filter's cap.
const OVERSIZED: usize = 64 * 1024 + 1;

fn gateway(fake: &FakeControl, echo: EchoBackend, args: &[&str]) -> Gateway {
    let paths = operation("/items", "get", "listItems", &[]);
    let input = CompileInput::new(&shop(KEY_REQUIRED, &paths))
        .args(["--producer-project-id", PRODUCER])
        .args(["--service-control-url", &fake.url()])
        .args(args);
    let url = echo.url();
    Gateway::start_compiled(&input, &url, Some(echo))
}

fn check_calls(fake: &FakeControl) -> usize {
    fake.calls()
        .iter()
        .filter(|c| c.path.ends_with(":check"))
        .count()
}

#[test]
fn unusable_answers_fail_open_are_counted_and_logged_once() {
    let fake = FakeControl::start(0, Answer::Body(GARBAGE.to_vec()));
    let gw = gateway(&fake, EchoBackend::start(), &[]);
    for key in ["AIzaGarbled1", "AIzaGarbled2"] {
        assert_no_consumer(&get_with_key(&gw, "/items", key));
    }
    // Not retried: one Check per request (the default policy retries network failures 3 times).
    assert_eq!(check_calls(&fake), 2, "{:?}", fake.calls());
    fake.answer(Answer::Body(vec![0x0a; OVERSIZED]));
    assert_no_consumer(&get_with_key(&gw, "/items", "AIzaOversized"));
    assert_eq!(check_calls(&fake), 3);

    assert_eq!(
        wait_for_counter(&gw, "wasp.service_control.bad_answers", 3),
        3
    );
    assert_eq!(
        wait_for_counter(&gw, "wasp.service_control.failed_open", 3),
        3
    );
    let log = gw.envoy.log();
    let lines = log.matches("service control failed: ").count();
    assert_eq!(lines, 1, "logged once per interval:\n{log}");
    assert!(
        log.contains("Failed to parse the check response from Google Service Control API"),
        "{log}"
    );
    // A working answer again: the key is checked (an empty CheckResponse allows it).
    fake.answer(Answer::Allow);
    assert_eq!(get_with_key(&gw, "/items", "AIzaGood").status, 200);
    gw.assert_filter_alive();
}

#[test]
fn unusable_answers_fail_closed_with_espv2s_503() {
    let fake = FakeControl::start(0, Answer::Body(GARBAGE.to_vec()));
    let gw = gateway(
        &fake,
        EchoBackend::start(),
        &["--service-control-fail-policy", "closed"],
    );
    local_reply_starting(
        &get_with_key(&gw, "/items", "AIzaGarbled"),
        503,
        "UNAVAILABLE: Failed to parse the check response from Google Service Control API",
    );
    fake.answer(Answer::Body(vec![0; OVERSIZED]));
    local_reply(
        &get_with_key(&gw, "/items", "AIzaOversized"),
        503,
        "UNAVAILABLE: Calling Google Service Control API failed with: 200 and a body of 65537 bytes, over the 65536-byte limit",
    );
    gw.assert_filter_alive();
}
