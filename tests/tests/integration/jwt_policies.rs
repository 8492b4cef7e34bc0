//! Stricter token policies than ESPv2's defaults, through real Envoy and a real identity
//! provider: `exp` required (`--jwt-require-exp`, `x-wasp-jwt-require-exp`), a maximum
//! lifetime (`--jwt-max-lifetime-seconds`, `x-wasp-jwt-max-lifetime-seconds`), and 503 with
//! `Retry-After` while a provider's keys have never loaded (`--jwks-unavailable-status 503`),
//! and operations that allow requests without a token (`x-wasp-jwt-allow-missing`).

use std::time::Duration;

use serde_json::{json, Value};
use wasp_tests::expect::local_reply;
use wasp_tests::idp::{now, JWKS_PATH};
use wasp_tests::{Idp, SigningKey};

use crate::jwt_support::*;

const EXP_REQUIRED: &str = "Jwt payload [exp] field is required";
const TOO_LONG: &str = "Jwt lifetime (exp - iat) is longer than allowed";

fn idp_and_key() -> (Idp, SigningKey) {
    let key = SigningKey::es256("ec-1");
    (Idp::start(vec![key.clone()]), key)
}

fn without_exp(idp: &Idp) -> Value {
    let mut claims = idp.claims(AUDIENCE);
    claims.as_object_mut().expect("claims").remove("exp");
    claims
}

#[test]
fn tokens_without_exp_pass_by_default_as_in_espv2() {
    let (idp, key) = idp_and_key();
    let gw = start(&one_provider(&idp, Some(JWKS_PATH), &[]), &[]);
    passes(&gw, "/secure", &bearer(&key.mint(&without_exp(&idp))));
}

#[test]
fn exp_can_be_required_for_every_provider_or_one() {
    let (idp, key) = idp_and_key();
    let no_exp = bearer(&key.mint(&without_exp(&idp)));
    let with_exp = bearer(&key.mint(&idp.claims(AUDIENCE)));

    let gw = start(
        &one_provider(&idp, Some(JWKS_PATH), &[]),
        &["--jwt-require-exp"],
    );
    refused(&gw, "/secure", &no_exp, 401, EXP_REQUIRED);
    passes(&gw, "/secure", &with_exp);

    // The scheme's extension decides for its provider, either way.
    let gw = start(
        &one_provider(&idp, Some(JWKS_PATH), &["x-wasp-jwt-require-exp: true"]),
        &[],
    );
    refused(&gw, "/secure", &no_exp, 401, EXP_REQUIRED);
    let gw = start(
        &one_provider(&idp, Some(JWKS_PATH), &["x-wasp-jwt-require-exp: false"]),
        &["--jwt-require-exp"],
    );
    passes(&gw, "/secure", &no_exp);
}

#[test]
fn a_maximum_lifetime_refuses_long_lived_and_unbounded_tokens() {
    let (idp, key) = idp_and_key();
    let lifetime = |seconds: u64, iat: Option<u64>| {
        let mut claims = idp.claims(AUDIENCE);
        let start = iat.unwrap_or_else(now);
        claims["exp"] = json!(start + seconds);
        match iat {
            Some(iat) => claims["iat"] = json!(iat),
            None => {
                claims.as_object_mut().expect("claims").remove("iat");
            }
        }
        bearer(&key.mint(&claims))
    };
    let gw = start(
        &one_provider(&idp, Some(JWKS_PATH), &[]),
        &["--jwt-max-lifetime-seconds", "3600"],
    );
    passes(&gw, "/secure", &lifetime(3000, Some(now())));
    refused(&gw, "/secure", &lifetime(7200, Some(now())), 401, TOO_LONG);
    // Issued an hour ago, valid for another 50 minutes: 110 minutes in all.
    refused(
        &gw,
        "/secure",
        &lifetime(6600, Some(now() - 3600)),
        401,
        TOO_LONG,
    );
    // Without iat, what is left counts.
    passes(&gw, "/secure", &lifetime(3000, None));
    refused(&gw, "/secure", &lifetime(7200, None), 401, TOO_LONG);
    refused(
        &gw,
        "/secure",
        &bearer(&key.mint(&without_exp(&idp))),
        401,
        EXP_REQUIRED,
    );

    // The scheme's own limit replaces the option's.
    let gw = start(
        &one_provider(
            &idp,
            Some(JWKS_PATH),
            &["x-wasp-jwt-max-lifetime-seconds: 600"],
        ),
        &["--jwt-max-lifetime-seconds", "3600"],
    );
    refused(&gw, "/secure", &lifetime(3000, Some(now())), 401, TOO_LONG);
    passes(&gw, "/secure", &lifetime(500, Some(now())));
}

#[test]
fn keys_that_never_loaded_can_answer_503_with_retry_after() {
    let (idp, key) = idp_and_key();
    idp.go_down();
    let gw = start(
        &one_provider(&idp, Some(JWKS_PATH), &[]),
        &["--jwks-unavailable-status", "503"],
    );
    let token = bearer(&key.mint(&idp.claims(AUDIENCE)));
    let reply = send(&gw, "/secure", &token);
    local_reply(
        &reply,
        503,
        "UNAVAILABLE: Jwks remote fetch is failed and no keys are loaded yet; retry later",
    );
    let retry_after: u64 = reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric Retry-After: {reply:?}"));
    assert!((1..=300).contains(&retry_after), "{reply:?}");
    assert_eq!(reply.header("www-authenticate"), None, "{reply:?}");
    // A bad token is still a 401 before keys are needed; open operations are unaffected.
    refused(
        &gw,
        "/secure",
        &bearer("not-a-jwt"),
        401,
        "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
    );
    assert_eq!(gw.get("/open").status, 200);

    idp.come_up();
    let passed = eventually(Duration::from_secs(20), || {
        send(&gw, "/secure", &token).status == 200
    });
    assert!(passed, "keys never loaded: {:?}", idp.all_fetches());
    gw.assert_filter_alive();
}

#[test]
fn an_operation_can_allow_requests_without_a_token_but_verifies_a_sent_one() {
    let (idp, key) = idp_and_key();
    let optional = "  /maybe:\n    get:\n      operationId: maybe\n      x-wasp-jwt-allow-missing: true\n      responses: {'200': {description: ok}}\n";
    let spec = api(
        &[provider("idp", &idp, Some(JWKS_PATH), &[])],
        Some("[{idp: []}]"),
        &[op("/secure", "secure", None), optional.to_string()],
    );
    let gw = start(&spec, &[]);
    let seen = passes(&gw, "/maybe", &[]);
    assert_eq!(seen.header(USERINFO), None);
    let seen = passes(&gw, "/maybe", &bearer(&key.mint(&idp.claims(AUDIENCE))));
    assert_eq!(userinfo(&seen)["sub"], "user-1");
    refused(
        &gw,
        "/maybe",
        &bearer(&SigningKey::es256("ec-1").mint(&idp.claims(AUDIENCE))),
        401,
        "Jwt verification fails",
    );
    // Other operations still require the token.
    refused(&gw, "/secure", &[], 401, "Jwt is missing");
}

#[test]
fn espv2s_audience_and_padding_options() {
    let (idp, key) = idp_and_key();
    let spec = one_provider(&idp, Some(JWKS_PATH), &[]);
    let mut elsewhere = idp.claims(AUDIENCE);
    elsewhere["aud"] = json!("https://another-service.example");
    let elsewhere = bearer(&key.mint(&elsewhere));
    // A token whose payload's base64url needs padding (its length is not a multiple of 4).
    let needs_padding = (0..4)
        .map(|extra| {
            let mut claims = idp.claims(AUDIENCE);
            claims["pad"] = json!("p".repeat(extra));
            key.mint(&claims)
        })
        .find(|token| token.split('.').nth(1).is_some_and(|p| p.len() % 4 != 0))
        .expect("one of four lengths needs padding");
    let padded = bearer(&needs_padding);

    let gw = start(&spec, &[]);
    refused(
        &gw,
        "/secure",
        &elsewhere,
        403,
        "Audiences in Jwt are not allowed",
    );
    let info = passes(&gw, "/secure", &padded);
    assert!(!info.header(USERINFO).unwrap_or_default().ends_with('='));

    let gw = start(
        &spec,
        &[
            "--disable-jwt-audience-service-name-check",
            "--jwt-pad-forward-payload-header",
        ],
    );
    passes(&gw, "/secure", &elsewhere);
    let info = passes(&gw, "/secure", &padded);
    let value = info.header(USERINFO).unwrap_or_default();
    assert!(
        value.ends_with('=') && value.len().is_multiple_of(4),
        "{value}"
    );
}
