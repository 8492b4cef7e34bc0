//! CORS presets, as ESPv2's `--cors_preset basic|cors_with_regex` and its
//! `--cors_*` options: checked here, answered by Envoy's CORS filter (emitted by
//! `bootstrap.rs` before the wasm filter, with the policy on the virtual host).
//!
//! `x-google-endpoints` `allowCors` (preflights go to the backend) and a preset
//! (Envoy answers preflights) are two answers to one question, so `compile.rs`
//! rejects the pair instead of picking one silently.

use crate::errors::{Diagnostic, Diagnostics};
use clap::Args;
use serde_json::{json, Value};

/// ESPv2's `--cors_allow_methods` default.
pub const DEFAULT_ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
/// ESPv2's `--cors_allow_headers` default.
pub const DEFAULT_ALLOW_HEADERS: &str =
    "DNT,User-Agent,X-User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization";
/// ESPv2's `--cors_expose_headers` default.
pub const DEFAULT_EXPOSE_HEADERS: &str = "Content-Length,Content-Range";
/// ESPv2's `--cors_max_age` default, 480h.
pub const DEFAULT_MAX_AGE_S: u64 = 1_728_000;

/// The `--cors-*` command-line options, as given.
#[derive(Debug, Clone, Default, Args)]
pub struct CorsFlags {
    /// Let Envoy answer CORS requests: `basic` (one origin, exact) or
    /// `cors_with_regex` (origins matching --cors-allow-origin-regex).
    #[arg(long, value_name = "PRESET", value_parser = ["basic", "cors_with_regex"])]
    pub cors_preset: Option<String>,
    /// Allowed origin with `basic` [default: *].
    #[arg(long, value_name = "ORIGIN")]
    pub cors_allow_origin: Option<String>,
    /// Allowed origins with `cors_with_regex` (RE2 syntax, whole origin).
    #[arg(long, value_name = "REGEX")]
    pub cors_allow_origin_regex: Option<String>,
    /// Access-Control-Allow-Methods [default: GET, POST, PUT, PATCH, DELETE, OPTIONS].
    #[arg(long, value_name = "LIST")]
    pub cors_allow_methods: Option<String>,
    /// Access-Control-Allow-Headers [default: ESPv2's list].
    #[arg(long, value_name = "LIST")]
    pub cors_allow_headers: Option<String>,
    /// Access-Control-Expose-Headers [default: Content-Length,Content-Range].
    #[arg(long, value_name = "LIST")]
    pub cors_expose_headers: Option<String>,
    /// Send Access-Control-Allow-Credentials: true.
    #[arg(long)]
    pub cors_allow_credentials: bool,
    /// Access-Control-Max-Age as a duration like 480h, 30m, 90s or 1h30m [default: 480h].
    #[arg(long, value_name = "DURATION")]
    pub cors_max_age: Option<String>,
}

/// Which origins a preset allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginMatch {
    /// One origin; `*` allows any (Envoy treats an exact `*` as a wildcard).
    Exact(String),
    Regex(String),
}

/// A checked CORS policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsPolicy {
    pub origin: OriginMatch,
    pub allow_methods: String,
    pub allow_headers: String,
    pub expose_headers: String,
    pub allow_credentials: bool,
    pub max_age_s: u64,
}

impl CorsFlags {
    /// `Some` policy with a preset, `None` without; every misuse as a problem.
    pub fn policy(&self) -> Result<Option<CorsPolicy>, Diagnostics> {
        let mut problems = Diagnostics::new();
        let Some(preset) = self.cors_preset.as_deref() else {
            let given = self.given_options();
            if !given.is_empty() {
                problems.push(Diagnostic::option(
                    "--cors-preset",
                    format!(
                        "{} only apply with a CORS preset; add --cors-preset basic (or cors_with_regex), or remove them",
                        given.join(", ")
                    ),
                ));
            }
            return if problems.is_empty() {
                Ok(None)
            } else {
                Err(problems)
            };
        };
        let origin = if preset == "basic" {
            if self.cors_allow_origin_regex.is_some() {
                problems.push(Diagnostic::option(
                    "--cors-allow-origin-regex",
                    "applies only to --cors-preset cors_with_regex; use --cors-allow-origin with basic, or switch the preset",
                ));
            }
            OriginMatch::Exact(self.cors_allow_origin.clone().unwrap_or_else(|| "*".into()))
        } else {
            if self.cors_allow_origin.is_some() {
                problems.push(Diagnostic::option(
                    "--cors-allow-origin",
                    "applies only to --cors-preset basic; with cors_with_regex give --cors-allow-origin-regex",
                ));
            }
            match self.cors_allow_origin_regex.as_deref() {
                None | Some("") => {
                    problems.push(Diagnostic::option(
                        "--cors-allow-origin-regex",
                        "--cors-preset cors_with_regex needs --cors-allow-origin-regex, such as '^https://[a-z0-9-]+\\.example\\.com$'",
                    ));
                    OriginMatch::Regex(String::new())
                }
                Some(regex) => {
                    if let Err(e) = regex::Regex::new(regex) {
                        problems.push(Diagnostic::option(
                            "--cors-allow-origin-regex",
                            format!("{regex:?} is not a valid regular expression (RE2 syntax): {e}; fix it or quote it for the shell"),
                        ));
                    }
                    OriginMatch::Regex(regex.to_string())
                }
            }
        };
        let max_age_s = match self.cors_max_age.as_deref() {
            None => DEFAULT_MAX_AGE_S,
            Some(text) => parse_duration_s(text).unwrap_or_else(|e| {
                problems.push(Diagnostic::option("--cors-max-age", e));
                0
            }),
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Some(CorsPolicy {
            origin,
            allow_methods: or_default(&self.cors_allow_methods, DEFAULT_ALLOW_METHODS),
            allow_headers: or_default(&self.cors_allow_headers, DEFAULT_ALLOW_HEADERS),
            expose_headers: or_default(&self.cors_expose_headers, DEFAULT_EXPOSE_HEADERS),
            allow_credentials: self.cors_allow_credentials,
            max_age_s,
        }))
    }

    fn given_options(&self) -> Vec<&'static str> {
        [
            ("--cors-allow-origin", self.cors_allow_origin.is_some()),
            (
                "--cors-allow-origin-regex",
                self.cors_allow_origin_regex.is_some(),
            ),
            ("--cors-allow-methods", self.cors_allow_methods.is_some()),
            ("--cors-allow-headers", self.cors_allow_headers.is_some()),
            ("--cors-expose-headers", self.cors_expose_headers.is_some()),
            ("--cors-allow-credentials", self.cors_allow_credentials),
            ("--cors-max-age", self.cors_max_age.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
    }

    /// Every option as `name=value`, for the config hash.
    pub fn hashed(&self) -> String {
        format!("{self:?}")
    }
}

fn or_default(value: &Option<String>, default: &str) -> String {
    value.clone().unwrap_or_else(|| default.to_string())
}

/// `480h`, `30m`, `90s`, `1h30m` or plain seconds (`3600`) -> seconds, like
/// the Go durations ESPv2 takes (whole numbers only).
fn parse_duration_s(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a duration; write it like 480h, 30m, 90s or 1h30m");
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(seconds);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() || text.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

impl CorsPolicy {
    /// The virtual host's per-filter `envoy.extensions.filters.http.cors.v3.CorsPolicy`
    /// (Envoy 1.40 refuses `envoy.config.route.v3.CorsPolicy` there). Preflights
    /// that do not match are forwarded (Envoy's default) so the filter can
    /// answer them with ESPv2's 400.
    pub fn envoy_policy(&self) -> Value {
        let origin = match &self.origin {
            OriginMatch::Exact(o) => json!({ "exact": o }),
            OriginMatch::Regex(r) => json!({ "safe_regex": { "regex": r } }),
        };
        let mut policy = json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
            "allow_origin_string_match": [origin],
            "max_age": self.max_age_s.to_string(),
            "allow_credentials": self.allow_credentials,
        });
        for (field, value) in [
            ("allow_methods", &self.allow_methods),
            ("allow_headers", &self.allow_headers),
            ("expose_headers", &self.expose_headers),
        ] {
            if !value.is_empty() {
                policy[field] = json!(value);
            }
        }
        policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(preset: &str) -> CorsFlags {
        CorsFlags {
            cors_preset: Some(preset.into()),
            ..CorsFlags::default()
        }
    }

    fn errors(f: &CorsFlags) -> Vec<String> {
        f.policy()
            .unwrap_err()
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn no_preset_no_policy() {
        assert_eq!(CorsFlags::default().policy().unwrap(), None);
    }

    #[test]
    fn basic_uses_espv2_defaults() {
        let p = flags("basic").policy().unwrap().unwrap();
        assert_eq!(p.origin, OriginMatch::Exact("*".into()));
        assert_eq!(p.allow_methods, "GET, POST, PUT, PATCH, DELETE, OPTIONS");
        assert_eq!(p.allow_headers, DEFAULT_ALLOW_HEADERS);
        assert_eq!(p.expose_headers, "Content-Length,Content-Range");
        assert!(!p.allow_credentials);
        assert_eq!(p.max_age_s, 1_728_000);
        let envoy = p.envoy_policy();
        assert_eq!(
            envoy["allow_origin_string_match"],
            json!([{ "exact": "*" }])
        );
        assert_eq!(envoy["max_age"], "1728000");
        assert_eq!(envoy["allow_credentials"], false);
    }

    #[test]
    fn regex_preset_with_options() {
        let f = CorsFlags {
            cors_allow_origin_regex: Some(r"^https://[a-z]+\.example\.com$".into()),
            cors_allow_credentials: true,
            cors_max_age: Some("2h".into()),
            cors_expose_headers: Some(String::new()),
            ..flags("cors_with_regex")
        };
        let envoy = f.policy().unwrap().unwrap().envoy_policy();
        assert_eq!(
            envoy["allow_origin_string_match"][0]["safe_regex"]["regex"],
            r"^https://[a-z]+\.example\.com$"
        );
        assert_eq!(envoy["allow_credentials"], true);
        assert_eq!(envoy["max_age"], "7200");
        assert!(
            envoy.get("expose_headers").is_none(),
            "an empty list sends no header"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_s("480h"), Ok(1_728_000));
        assert_eq!(parse_duration_s("1h30m"), Ok(5_400));
        assert_eq!(parse_duration_s("90s"), Ok(90));
        assert_eq!(parse_duration_s("600"), Ok(600));
        for bad in ["", "h", "1.5h", "10d", "5m3", "-1s"] {
            assert!(parse_duration_s(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn misuse_is_reported_with_the_fix() {
        let e = errors(&flags("cors_with_regex"));
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("--cors-allow-origin-regex: --cors-preset cors_with_regex needs --cors-allow-origin-regex"), "{e:?}");

        let e = errors(&CorsFlags {
            cors_allow_origin_regex: Some("^https://(a|b$".into()),
            ..flags("cors_with_regex")
        });
        assert!(e[0].contains("is not a valid regular expression"), "{e:?}");

        let e = errors(&CorsFlags {
            cors_allow_origin: Some("https://a".into()),
            cors_allow_credentials: true,
            ..CorsFlags::default()
        });
        assert_eq!(e, ["--cors-preset: --cors-allow-origin, --cors-allow-credentials only apply with a CORS preset; add --cors-preset basic (or cors_with_regex), or remove them"]);

        let e = errors(&CorsFlags {
            cors_allow_origin_regex: Some(".*".into()),
            ..flags("basic")
        });
        assert!(
            e[0].starts_with(
                "--cors-allow-origin-regex: applies only to --cors-preset cors_with_regex"
            ),
            "{e:?}"
        );

        let e = errors(&CorsFlags {
            cors_allow_origin: Some("https://a".into()),
            cors_allow_origin_regex: Some(".*".into()),
            ..flags("cors_with_regex")
        });
        assert!(
            e[0].starts_with("--cors-allow-origin: applies only to --cors-preset basic"),
            "{e:?}"
        );

        let e = errors(&CorsFlags {
            cors_max_age: Some("forever".into()),
            ..flags("basic")
        });
        assert!(
            e[0].starts_with("--cors-max-age: \"forever\" is not a duration"),
            "{e:?}"
        );
    }
}
