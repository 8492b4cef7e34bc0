//! Security requirements through real Envoy: alternatives are ORed (two providers), the
//! providers inside one alternative are ANDed, an operation's own `security` replaces the
//! top-level one (`security: []` opens it), scopes listed in `security` are required
//! unless `--ignore-jwt-scopes`, and `x-wasp-allowed-client-ids` checks `azp`.

use serde_json::json;
use wasp_tests::idp::JWKS_PATH;
use wasp_tests::{Idp, SigningKey};

use crate::jwt_support::*;

const MISSING: &str = "Jwt is missing";
const UNKNOWN_ISSUER: &str = "Jwt issuer is not configured";

/// Two providers, each with its own identity provider and key; `second` reads its
/// token from `X-Second-Jwt` so a request can carry both.
struct Two {
    first: Idp,
    first_key: SigningKey,
    second: Idp,
    second_key: SigningKey,
}

impl Two {
    fn new() -> Two {
        let first_key = SigningKey::es256("first");
        let second_key = SigningKey::ed25519("second");
        Two {
            first: Idp::start(vec![first_key.clone()]),
            first_key,
            second: Idp::start(vec![second_key.clone()]),
            second_key,
        }
    }

    fn definitions(&self) -> Vec<String> {
        vec![
            provider("first", &self.first, Some(JWKS_PATH), &[]),
            provider(
                "second",
                &self.second,
                Some(JWKS_PATH),
                &["x-google-jwt-locations: [{header: X-Second-Jwt}]"],
            ),
        ]
    }

    fn first_token(&self) -> String {
        self.first_key.mint(&self.first.claims(AUDIENCE))
    }

    fn second_token(&self) -> String {
        self.second_key.mint(&self.second.claims(AUDIENCE))
    }
}

#[test]
fn alternatives_accept_a_token_from_either_provider() {
    let two = Two::new();
    let spec = api(
        &two.definitions(),
        Some("[{first: []}, {second: []}]"),
        &[op("/either", "either", None)],
    );
    let gw = start(&spec, &[]);
    let seen = passes(&gw, "/either", &bearer(&two.first_token()));
    assert_eq!(userinfo(&seen)["iss"], two.first.issuer());
    let seen = passes(&gw, "/either", &[("x-second-jwt", two.second_token())]);
    assert_eq!(userinfo(&seen)["iss"], two.second.issuer());

    refused(&gw, "/either", &[], 401, MISSING);
    // The second provider's token where only the first looks: its issuer is not the first's.
    let misplaced = bearer(&two.second_token());
    refused(&gw, "/either", &misplaced, 401, UNKNOWN_ISSUER);
    let stranger = SigningKey::es256("first").mint(&json!({
        "iss": "https://stranger.example", "aud": AUDIENCE, "exp": wasp_tests::idp::now() + 60,
    }));
    refused(&gw, "/either", &bearer(&stranger), 401, UNKNOWN_ISSUER);
    // A forged token for the first provider is a real failure, reported as such.
    let forged = SigningKey::es256("first").mint(&two.first.claims(AUDIENCE));
    refused(
        &gw,
        "/either",
        &bearer(&forged),
        401,
        "Jwt verification fails",
    );
}

#[test]
fn both_providers_of_one_alternative_are_required() {
    let two = Two::new();
    let spec = api(
        &two.definitions(),
        Some("[{first: [], second: []}]"),
        &[op("/both", "both", None)],
    );
    let gw = start(&spec, &[]);
    let first = bearer(&two.first_token())[0].clone();
    let second = ("x-second-jwt", two.second_token());
    let seen = passes(&gw, "/both", &[first.clone(), second.clone()]);
    assert_eq!(
        userinfo(&seen)["iss"],
        two.first.issuer(),
        "the first provider's claims"
    );
    refused(&gw, "/both", &[first], 401, MISSING);
    refused(&gw, "/both", &[second], 401, MISSING);
}

#[test]
fn an_operations_security_replaces_the_top_level_one() {
    let two = Two::new();
    let spec = api(
        &two.definitions(),
        Some("[{first: []}]"),
        &[
            op("/inherited", "inherited", None),
            op("/second-only", "secondOnly", Some("[{second: []}]")),
            op("/open", "open", Some("[]")),
        ],
    );
    let gw = start(&spec, &[]);
    passes(&gw, "/inherited", &bearer(&two.first_token()));
    refused(&gw, "/inherited", &[], 401, MISSING);
    refused(
        &gw,
        "/inherited",
        &[("x-second-jwt", two.second_token())],
        401,
        MISSING,
    );

    passes(&gw, "/second-only", &[("x-second-jwt", two.second_token())]);
    refused(
        &gw,
        "/second-only",
        &bearer(&two.first_token()),
        401,
        MISSING,
    );

    let seen = passes(&gw, "/open", &[]);
    assert_eq!(seen.header(USERINFO), None);
    // An open operation does not look at tokens, even bad ones.
    passes(&gw, "/open", &bearer("not-a-token"));
}

#[test]
fn without_top_level_security_operations_are_open_unless_they_ask() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp::start(vec![key.clone()]);
    let spec = api(
        &[provider("idp", &idp, Some(JWKS_PATH), &[])],
        None,
        &[
            op("/plain", "plain", None),
            op("/secure", "secure", Some("[{idp: []}]")),
        ],
    );
    let gw = start(&spec, &[]);
    passes(&gw, "/plain", &[]);
    refused(&gw, "/secure", &[], 401, MISSING);
    passes(&gw, "/secure", &bearer(&key.mint(&idp.claims(AUDIENCE))));
}

fn scoped_spec(idp: &Idp) -> String {
    api(
        &[provider("idp", idp, Some(JWKS_PATH), &[])],
        None,
        &[
            op("/read", "read", Some("[{idp: [read, \"admin write\"]}]")),
            op("/any", "any", Some("[{idp: []}]")),
        ],
    )
}

#[test]
fn scopes_listed_in_security_are_required() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp::start(vec![key.clone()]);
    let gw = start(&scoped_spec(&idp), &[]);
    let token = |scope: Option<&str>| {
        let mut claims = idp.claims(AUDIENCE);
        if let Some(scope) = scope {
            claims["scope"] = json!(scope);
        }
        bearer(&key.mint(&claims))
    };
    for scope in ["read", "email read", "write admin"] {
        passes(&gw, "/read", &token(Some(scope)));
    }
    for scope in [Some("write"), Some("admin"), Some("reader"), None] {
        refused(
            &gw,
            "/read",
            &token(scope),
            403,
            "Jwt scopes are not allowed",
        );
    }
    passes(&gw, "/any", &token(None));

    // ESPv2 ignores them; so does wasp with --ignore-jwt-scopes.
    let lenient = start(&scoped_spec(&idp), &["--ignore-jwt-scopes"]);
    passes(&lenient, "/read", &token(Some("write")));
    passes(&lenient, "/read", &token(None));
}

#[test]
fn allowed_client_ids_check_azp() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp::start(vec![key.clone()]);
    let spec = one_provider(
        &idp,
        Some(JWKS_PATH),
        &["x-wasp-allowed-client-ids: [web-client, cli-client]"],
    );
    let gw = start(&spec, &[]);
    let token = |azp: Option<&str>| {
        let mut claims = idp.claims(AUDIENCE);
        if let Some(azp) = azp {
            claims["azp"] = json!(azp);
        }
        bearer(&key.mint(&claims))
    };
    passes(&gw, "/secure", &token(Some("web-client")));
    passes(&gw, "/secure", &token(Some("cli-client")));
    for azp in [Some("evil-client"), Some("Web-Client"), None] {
        refused(
            &gw,
            "/secure",
            &token(azp),
            403,
            "Jwt client id (azp) is not allowed",
        );
    }
}

#[test]
fn a_provider_that_is_down_does_not_block_the_other_alternative() {
    let two = Two::new();
    two.first.go_down();
    let spec = api(
        &two.definitions(),
        Some("[{first: []}, {second: []}]"),
        &[op("/either", "either", None)],
    );
    let gw = start(&spec, &[]);
    passes(&gw, "/either", &[("x-second-jwt", two.second_token())]);
    refused(
        &gw,
        "/either",
        &bearer(&two.first_token()),
        401,
        "Jwks remote fetch is failed",
    );
    refused(&gw, "/either", &[], 401, MISSING);
}

#[test]
fn two_schemes_of_one_issuer_differ_by_audience() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp::start(vec![key.clone()]);
    let spec = api(
        &[
            provider(
                "web",
                &idp,
                Some(JWKS_PATH),
                &["x-google-audiences: web-app"],
            ),
            provider(
                "mobile",
                &idp,
                Some(JWKS_PATH),
                &["x-google-audiences: mobile-app"],
            ),
        ],
        Some("[{web: []}, {mobile: []}]"),
        &[
            op("/either", "either", None),
            op("/mobile", "mobileOnly", Some("[{mobile: []}]")),
        ],
    );
    let gw = start(&spec, &[]);
    let token = |aud: &str| bearer(&key.mint(&idp.claims(aud)));
    passes(&gw, "/either", &token("web-app"));
    passes(&gw, "/either", &token("mobile-app"));
    refused(
        &gw,
        "/either",
        &token(AUDIENCE),
        403,
        "Audiences in Jwt are not allowed",
    );
    passes(&gw, "/mobile", &token("mobile-app"));
    refused(
        &gw,
        "/mobile",
        &token("web-app"),
        403,
        "Audiences in Jwt are not allowed",
    );
}

#[test]
fn a_verified_token_is_still_checked_against_each_operations_scopes() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp::start(vec![key.clone()]);
    let gw = start(&scoped_spec(&idp), &[]);
    let mut claims = idp.claims(AUDIENCE);
    claims["scope"] = json!("email");
    let token = bearer(&key.mint(&claims));
    for _ in 0..2 {
        passes(&gw, "/any", &token);
        refused(&gw, "/read", &token, 403, "Jwt scopes are not allowed");
    }
}

/// Compiles `spec`: exit 2, and stderr names the file and each of `needles`.
fn rejected(spec: &str, needles: &[&str]) {
    let tools = wasp_tests::Tools::from_env();
    let run = wasp_tests::spec::run_compile(&tools, spec, "http://127.0.0.1:9");
    let stderr = run.stderr();
    assert_eq!(run.output.status.code(), Some(2), "{stderr}");
    let file = run.spec.display().to_string();
    for needle in [file.as_str()].iter().chain(needles) {
        assert!(
            stderr.contains(needle),
            "stderr lacks {needle:?}:\n{stderr}"
        );
    }
}

#[test]
fn specs_that_would_leave_an_operation_unprotected_are_rejected() {
    let idp = Idp::start(vec![]);
    let spec = one_provider(&idp, Some(JWKS_PATH), &[]);
    rejected(
        &spec.replace("security: [{idp: []}]", "security: [{idpp: []}]"),
        &["/security/0/idpp", "not defined in securityDefinitions"],
    );
    let issuer_line = format!("    x-google-issuer: \"{}\"\n", idp.issuer());
    rejected(
        &spec.replace(&issuer_line, ""),
        &["/securityDefinitions/idp", "x-google-issuer"],
    );
    rejected(
        &spec.replace(&idp.url(JWKS_PATH), "ftp://keys.example/jwks"),
        &[
            "/securityDefinitions/idp/x-google-jwks_uri",
            "http and https",
        ],
    );
    rejected(
        &one_provider(
            &idp,
            Some(JWKS_PATH),
            &["x-google-jwt-locations: [{query: jwt, value_prefix: \"Bearer \"}]"],
        ),
        &["/securityDefinitions/idp/x-google-jwt-locations/0/value_prefix"],
    );
}
