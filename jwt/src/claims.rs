//! The claim rules, as plain functions over a parsed payload: issuer, expiry and not-before
//! with skew, audiences (ESPv2 semantics), scopes and allowed client ids.

use serde_json::{Map, Value};

use crate::errors::{Claim, JwtError};

/// `iss`, which picks the provider. Missing or not a string: no provider can match.
pub fn issuer(claims: &Map<String, Value>) -> Result<&str, JwtError> {
    match claims.get("iss") {
        Some(Value::String(iss)) => Ok(iss),
        None => Err(JwtError::UnknownIssuer),
        Some(_) => Err(JwtError::BadClaim(Claim::IssNotString)),
    }
}

/// Type-checks the registered string claims. jwt-simple deserializes them into `String`s
/// after the signature check; refusing other types here keeps the error a claim error (as in
/// jwt_verify_lib) rather than a signature failure, and keeps both parsers in agreement.
pub fn check_string_claims(claims: &Map<String, Value>) -> Result<(), JwtError> {
    let rules = [
        ("sub", Claim::SubNotString),
        ("jti", Claim::JtiNotString),
        ("nonce", Claim::NonceNotString),
        ("azp", Claim::AzpNotString),
    ];
    for (name, error) in rules {
        match claims.get(name) {
            None | Some(Value::String(_)) => {}
            Some(_) => return Err(JwtError::BadClaim(error)),
        }
    }
    Ok(())
}

/// What a token's times must satisfy (a provider's settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRules {
    /// Seconds of tolerance on `exp` and `nbf`.
    pub skew: u64,
    /// A token without `exp` is refused.
    pub require_expiration: bool,
    /// `exp` minus `iat` (or now, without `iat`) may be at most this; implies `exp`.
    pub max_lifetime: Option<u64>,
}

/// Checks `exp` and `nbf` against `now` with `rules.skew` seconds of tolerance
/// (jwt_verify_lib: expired when `now > exp + skew`, not yet valid when `nbf > now + skew`),
/// then the optional required `exp` and maximum lifetime. Timestamps must be non-negative
/// integers; `iat` is otherwise only used for the lifetime, as in ESPv2. Returns `exp`.
pub fn check_time(
    claims: &Map<String, Value>,
    now: u64,
    rules: TimeRules,
) -> Result<Option<u64>, JwtError> {
    let exp = timestamp(claims, "exp", Claim::ExpNotInteger, Claim::ExpOutOfRange)?;
    let nbf = timestamp(claims, "nbf", Claim::NbfNotInteger, Claim::NbfOutOfRange)?;
    let iat = timestamp(claims, "iat", Claim::IatNotInteger, Claim::IatOutOfRange)?;
    match exp {
        Some(exp) if now > exp.saturating_add(rules.skew) => return Err(JwtError::Expired),
        None if rules.require_expiration || rules.max_lifetime.is_some() => {
            return Err(JwtError::ExpirationRequired)
        }
        _ => {}
    }
    if let Some(nbf) = nbf {
        if nbf > now.saturating_add(rules.skew) {
            return Err(JwtError::NotYetValid);
        }
    }
    if let (Some(max), Some(exp)) = (rules.max_lifetime, exp) {
        // Issued in the future counts from now, so a forged iat cannot shorten the lifetime.
        let start = iat.map_or(now, |iat| iat.min(now));
        if exp.saturating_sub(start) > max {
            return Err(JwtError::LifetimeTooLong);
        }
    }
    Ok(exp)
}

/// A NumericDate as a u64. Integral floats in range (`1.8e9`) are accepted, as Envoy (which
/// reads every JSON number as a double) does; fractions, strings and the like are "not an
/// integer", negatives and values past 2^64 "not a positive 64 bit integer".
fn timestamp(
    claims: &Map<String, Value>,
    name: &str,
    not_integer: Claim,
    out_of_range: Claim,
) -> Result<Option<u64>, JwtError> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let Value::Number(number) = value else {
        return Err(JwtError::BadClaim(not_integer));
    };
    if let Some(seconds) = number.as_u64() {
        return Ok(Some(seconds));
    }
    match number.as_f64() {
        _ if number.is_i64() => Err(JwtError::BadClaim(out_of_range)),
        Some(f) if f.fract() != 0.0 => Err(JwtError::BadClaim(not_integer)),
        Some(f) if (0.0..18_446_744_073_709_551_616.0).contains(&f) => Ok(Some(f as u64)),
        _ => Err(JwtError::BadClaim(out_of_range)),
    }
}

/// The audiences a requirement accepts, ESPv2's way: the requirement's own list, else the
/// provider's, else `https://<service name>`. An empty result means "no audience check"
/// (only when the default audience is disabled).
pub fn effective_audiences(
    requirement: &[String],
    provider: &[String],
    service_name: &str,
    default_audience: bool,
) -> Vec<String> {
    if !requirement.is_empty() {
        requirement.to_vec()
    } else if !provider.is_empty() {
        provider.to_vec()
    } else if default_audience {
        vec![format!("https://{service_name}")]
    } else {
        Vec::new()
    }
}

/// Checks `aud` (a string or an array of strings) against `allowed`. Any overlap passes.
/// As jwt_verify_lib does, both sides are compared without an `http://`/`https://` prefix
/// and without a trailing `/`. A token without `aud` fails when audiences are configured.
pub fn check_audience(claims: &Map<String, Value>, allowed: &[String]) -> Result<(), JwtError> {
    let token_audiences: Vec<&str> = match claims.get("aud") {
        None => Vec::new(),
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| v.as_str().ok_or(JwtError::BadClaim(Claim::AudNotStrings)))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(JwtError::BadClaim(Claim::AudNotStrings)),
    };
    if allowed.is_empty() {
        return Ok(());
    }
    let matches = token_audiences.iter().any(|aud| {
        allowed
            .iter()
            .any(|ok| normalize_audience(ok) == normalize_audience(aud))
    });
    if matches {
        Ok(())
    } else {
        Err(JwtError::AudienceNotAllowed)
    }
}

fn normalize_audience(aud: &str) -> &str {
    let aud = aud
        .strip_prefix("https://")
        .or_else(|| aud.strip_prefix("http://"))
        .unwrap_or(aud);
    aud.strip_suffix('/').unwrap_or(aud)
}

/// Checks OAuth scopes. `required` lists alternatives (any one suffices); each alternative is
/// one or more space-separated scopes that must all be granted (Endpoints Frameworks' rule).
/// Granted scopes come from `scope` (space-separated string) or `scp` (string or array).
/// An empty `required` means no scope check.
pub fn check_scopes(claims: &Map<String, Value>, required: &[String]) -> Result<(), JwtError> {
    if required.is_empty() {
        return Ok(());
    }
    let mut granted: Vec<&str> = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(s)) => granted.extend(s.split(' ').filter(|s| !s.is_empty())),
            Some(Value::Array(list)) => granted.extend(list.iter().filter_map(Value::as_str)),
            _ => {}
        }
    }
    let satisfied = required.iter().any(|alternative| {
        let mut needed = alternative.split(' ').filter(|s| !s.is_empty()).peekable();
        needed.peek().is_some() && needed.all(|scope| granted.contains(&scope))
    });
    if satisfied {
        Ok(())
    } else {
        Err(JwtError::ScopeNotAllowed)
    }
}

/// Checks `azp` against the provider's allowed client ids (`None`: no check).
pub fn check_client_id(
    claims: &Map<String, Value>,
    allowed: Option<&[String]>,
) -> Result<(), JwtError> {
    let Some(allowed) = allowed else {
        return Ok(());
    };
    match claims.get("azp") {
        Some(Value::String(azp)) if allowed.iter().any(|id| id == azp) => Ok(()),
        _ => Err(JwtError::ClientIdNotAllowed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn skew(skew: u64, require_expiration: bool) -> TimeRules {
        TimeRules {
            skew,
            require_expiration,
            max_lifetime: None,
        }
    }

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn expiry_and_not_before_respect_the_skew() {
        let c = claims(json!({"exp": 1000, "nbf": 500}));
        assert_eq!(check_time(&c, 1000, skew(60, false)), Ok(Some(1000)));
        assert_eq!(check_time(&c, 1060, skew(60, false)), Ok(Some(1000)));
        assert_eq!(
            check_time(&c, 1061, skew(60, false)),
            Err(JwtError::Expired)
        );
        assert_eq!(check_time(&c, 440, skew(60, false)), Ok(Some(1000)));
        assert_eq!(
            check_time(&c, 439, skew(60, false)),
            Err(JwtError::NotYetValid)
        );
    }

    #[test]
    fn timestamps_must_be_non_negative_integers_and_never_overflow() {
        use Claim::*;
        let cases = [
            (json!(-1), ExpOutOfRange, IatOutOfRange),
            (json!(-1.0), ExpOutOfRange, IatOutOfRange),
            (json!(1e300), ExpOutOfRange, IatOutOfRange),
            (json!(1.5), ExpNotInteger, IatNotInteger),
            (json!("1000"), ExpNotInteger, IatNotInteger),
            (json!(null), ExpNotInteger, IatNotInteger),
        ];
        for (bad, exp_error, iat_error) in cases {
            assert_eq!(
                check_time(&claims(json!({ "exp": bad })), 0, skew(60, false)),
                Err(JwtError::BadClaim(exp_error)),
                "{bad}"
            );
            assert_eq!(
                check_time(&claims(json!({ "iat": bad })), 0, skew(60, false)),
                Err(JwtError::BadClaim(iat_error)),
                "{bad}"
            );
        }
        // Integral floats are NumericDates too.
        assert_eq!(
            check_time(&claims(json!({"exp": 1.8e9})), 0, skew(60, false)),
            Ok(Some(1_800_000_000))
        );
        let far = claims(json!({"exp": u64::MAX, "nbf": 0}));
        assert_eq!(
            check_time(&far, u64::MAX, skew(u64::MAX, false)),
            Ok(Some(u64::MAX))
        );
        // A token valid until 2286 is valid, not wrapped into the past.
        assert_eq!(
            check_time(
                &claims(json!({"exp": 9_999_999_999u64})),
                1_800_000_000,
                skew(60, false)
            ),
            Ok(Some(9_999_999_999))
        );
    }

    #[test]
    fn registered_string_claims_must_be_strings() {
        assert_eq!(
            check_string_claims(&claims(json!({"sub": "a", "jti": "b", "azp": "c"}))),
            Ok(())
        );
        let cases = [
            ("sub", Claim::SubNotString),
            ("jti", Claim::JtiNotString),
            ("nonce", Claim::NonceNotString),
            ("azp", Claim::AzpNotString),
        ];
        for (name, error) in cases {
            assert_eq!(
                check_string_claims(&claims(json!({ name: 5 }))),
                Err(JwtError::BadClaim(error)),
                "{name}"
            );
        }
    }

    #[test]
    fn missing_exp_is_accepted_unless_required() {
        assert_eq!(check_time(&Map::new(), 5, skew(60, false)), Ok(None));
        assert_eq!(
            check_time(&Map::new(), 5, skew(60, true)),
            Err(JwtError::ExpirationRequired)
        );
    }

    #[test]
    fn a_maximum_lifetime_counts_from_iat_or_now_and_needs_exp() {
        let rules = TimeRules {
            max_lifetime: Some(3600),
            ..skew(60, false)
        };
        let at = |value: Value, now: u64| check_time(&claims(value), now, rules);
        assert_eq!(at(json!({"iat": 1000, "exp": 4600}), 1000), Ok(Some(4600)));
        assert_eq!(
            at(json!({"iat": 1000, "exp": 4601}), 1000),
            Err(JwtError::LifetimeTooLong)
        );
        // Without iat the lifetime left counts; an iat in the future does not shorten it.
        assert_eq!(at(json!({"exp": 4600}), 1000), Ok(Some(4600)));
        assert_eq!(
            at(json!({"exp": 4601}), 1000),
            Err(JwtError::LifetimeTooLong)
        );
        assert_eq!(
            at(json!({"iat": 4000, "exp": 4700}), 1000),
            Err(JwtError::LifetimeTooLong)
        );
        assert_eq!(
            at(json!({"iat": 1000}), 1000),
            Err(JwtError::ExpirationRequired)
        );
    }

    #[test]
    fn audiences_follow_espv2() {
        assert_eq!(
            effective_audiences(&[], &[], "svc.example.com", true),
            strings(&["https://svc.example.com"])
        );
        assert_eq!(
            effective_audiences(&[], &strings(&["p"]), "svc", true),
            strings(&["p"])
        );
        assert_eq!(
            effective_audiences(&strings(&["r"]), &strings(&["p"]), "svc", true),
            strings(&["r"])
        );
        assert!(effective_audiences(&[], &[], "svc", false).is_empty());

        let allowed = strings(&["https://svc.example.com"]);
        assert_eq!(
            check_audience(&claims(json!({"aud": "https://svc.example.com"})), &allowed),
            Ok(())
        );
        assert_eq!(
            check_audience(&claims(json!({"aud": "svc.example.com/"})), &allowed),
            Ok(())
        );
        assert_eq!(
            check_audience(
                &claims(json!({"aud": ["x", "http://svc.example.com"]})),
                &allowed
            ),
            Ok(())
        );
        assert_eq!(
            check_audience(&claims(json!({"aud": "other"})), &allowed),
            Err(JwtError::AudienceNotAllowed)
        );
        assert_eq!(
            check_audience(&Map::new(), &allowed),
            Err(JwtError::AudienceNotAllowed)
        );
        assert_eq!(
            check_audience(&claims(json!({"aud": 5})), &allowed),
            Err(JwtError::BadClaim(Claim::AudNotStrings))
        );
        assert_eq!(
            check_audience(&claims(json!({"aud": ["ok", 5]})), &allowed),
            Err(JwtError::BadClaim(Claim::AudNotStrings))
        );
        assert_eq!(check_audience(&Map::new(), &[]), Ok(()));
    }

    #[test]
    fn scopes_are_or_of_space_separated_ands() {
        let required = strings(&["read", "write admin"]);
        assert_eq!(
            check_scopes(&claims(json!({"scope": "email read"})), &required),
            Ok(())
        );
        assert_eq!(
            check_scopes(&claims(json!({"scope": "admin write"})), &required),
            Ok(())
        );
        assert_eq!(
            check_scopes(&claims(json!({"scp": ["admin", "write"]})), &required),
            Ok(())
        );
        assert_eq!(
            check_scopes(&claims(json!({"scope": "write"})), &required),
            Err(JwtError::ScopeNotAllowed)
        );
        assert_eq!(
            check_scopes(&Map::new(), &required),
            Err(JwtError::ScopeNotAllowed)
        );
        assert_eq!(check_scopes(&Map::new(), &[]), Ok(()));
        assert_eq!(
            check_scopes(&claims(json!({"scope": "x"})), &strings(&[" "])),
            Err(JwtError::ScopeNotAllowed)
        );
    }

    #[test]
    fn client_ids_check_azp_only_when_configured() {
        let ids = strings(&["web-client"]);
        assert_eq!(
            check_client_id(&claims(json!({"azp": "web-client"})), Some(&ids)),
            Ok(())
        );
        assert_eq!(
            check_client_id(&claims(json!({"azp": "evil"})), Some(&ids)),
            Err(JwtError::ClientIdNotAllowed)
        );
        assert_eq!(
            check_client_id(&Map::new(), Some(&ids)),
            Err(JwtError::ClientIdNotAllowed)
        );
        assert_eq!(
            check_client_id(&claims(json!({"azp": "x"})), Some(&[])),
            Err(JwtError::ClientIdNotAllowed)
        );
        assert_eq!(check_client_id(&Map::new(), None), Ok(()));
    }
}
