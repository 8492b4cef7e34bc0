//! Where the gateway looks for a token: ESPv2's defaults (`Authorization: Bearer`,
//! `X-Goog-Iap-Jwt-Assertion`, `?access_token=`), and `x-google-jwt-locations`, which
//! replaces them.

use wasp_tests::idp::JWKS_PATH;
use wasp_tests::{Idp, SigningKey};

use crate::jwt_support::*;

const MISSING: &str = "Jwt is missing";

#[test]
fn the_default_locations_are_bearer_the_iap_header_and_access_token() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp::start(vec![key.clone()]);
    let gw = start(&one_provider(&idp, Some(JWKS_PATH), &[]), &[]);
    let claims = idp.claims(AUDIENCE);
    let token = key.mint(&claims);

    for (name, value) in [
        ("authorization", format!("Bearer {token}")),
        ("authorization", format!("bearer {token}")),
        ("x-goog-iap-jwt-assertion", token.clone()),
    ] {
        let seen = passes(&gw, "/secure", &[(name, value.clone())]);
        assert_eq!(userinfo(&seen), claims, "{name}: {value:.20}");
    }
    let seen = passes(&gw, &format!("/secure?access_token={token}&x=1"), &[]);
    assert_eq!(userinfo(&seen), claims);
    assert_eq!(
        seen.query,
        format!("access_token={token}&x=1"),
        "the query is forwarded as sent"
    );

    // Near misses are no token at all.
    for (name, value) in [
        ("authorization", format!("Basic {token}")),
        ("authorization", token.clone()),
        ("x-my-jwt", token.clone()),
    ] {
        refused(&gw, "/secure", &[(name, value)], 401, MISSING);
    }
    refused(
        &gw,
        &format!("/secure?Access_Token={token}"),
        &[],
        401,
        MISSING,
    );
    refused(&gw, &format!("/secure?jwt={token}"), &[], 401, MISSING);
}

#[test]
fn every_token_presented_must_verify() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp::start(vec![key.clone()]);
    let gw = start(&one_provider(&idp, Some(JWKS_PATH), &[]), &[]);
    let good = key.mint(&idp.claims(AUDIENCE));
    let forged = SigningKey::es256("ec-1").mint(&idp.claims(AUDIENCE));
    // A good header token does not carry a forged query token through, nor the reverse.
    refused(
        &gw,
        &format!("/secure?access_token={forged}"),
        &bearer(&good),
        401,
        "Jwt verification fails",
    );
    refused(
        &gw,
        &format!("/secure?access_token={good}"),
        &bearer(&forged),
        401,
        "Jwt verification fails",
    );
    let seen = passes(&gw, &format!("/secure?access_token={good}"), &bearer(&good));
    assert_eq!(userinfo(&seen)["sub"], "user-1");
}

#[test]
fn custom_locations_replace_the_defaults() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp::start(vec![key.clone()]);
    let locations = [
        "x-google-jwt-locations:",
        "  - header: Authorization",
        "    value_prefix: \"MyBearerToken \"",
        "  - header: X-Jwt-Header-Foo",
        "    value_prefix: jwt-prefix-foo",
        "  - header: X-Jwt-Header-Bar",
        "  - query: jwt_query_bar",
    ];
    let gw = start(&one_provider(&idp, Some(JWKS_PATH), &locations), &[]);
    let claims = idp.claims(AUDIENCE);
    let token = key.mint(&claims);

    for (name, value) in [
        ("authorization", format!("MyBearerToken {token}")),
        ("x-jwt-header-foo", format!("jwt-prefix-foo{token}")),
        ("x-jwt-header-bar", token.clone()),
    ] {
        let seen = passes(&gw, "/secure", &[(name, value.clone())]);
        assert_eq!(userinfo(&seen), claims, "{name}");
    }
    passes(&gw, &format!("/secure?jwt_query_bar={token}"), &[]);

    // The defaults no longer count, and a header without its prefix carries no token.
    for (name, value) in [
        ("authorization", format!("Bearer {token}")),
        ("x-goog-iap-jwt-assertion", token.clone()),
        ("x-jwt-header-foo", token.clone()),
    ] {
        refused(&gw, "/secure", &[(name, value)], 401, MISSING);
    }
    refused(
        &gw,
        &format!("/secure?access_token={token}"),
        &[],
        401,
        MISSING,
    );
}
