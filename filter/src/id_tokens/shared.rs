//! What worker VMs share about ID tokens through Envoy shared data (one store
//! per `vm_id`, visible to every worker): the current token per audience, and a
//! fetch lease so that one worker fetches while the others wait for its result.
//!
//! Keys carry the token source's scope ([`crate::gateway::share_scope`] of the source: the
//! metadata server or IAM account it asks), not the config hash: shared data survives a new
//! config that keeps the `vm_id`, so a rollout keeps the tokens its audiences already have.

use super::token::IdToken;

/// Key of an audience's current token: value `<expires_at_ms>\n<jwt>`.
pub fn token_key(scope: &str, audience: &str) -> String {
    format!("wasp/idtoken/{scope}/{audience}")
}

/// Key of an audience's fetch lease: value `<until_ms> <state>`.
pub fn lease_key(scope: &str, audience: &str) -> String {
    format!("wasp/idtoken-lease/{scope}/{audience}")
}

pub fn encode_token(token: &IdToken) -> Vec<u8> {
    format!("{}\n{}", token.expires_at_ms, token.jwt).into_bytes()
}

/// `None` for anything this filter did not write.
pub fn decode_token(bytes: &[u8]) -> Option<IdToken> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (expiry, jwt) = text.split_once('\n')?;
    if jwt.is_empty() {
        return None;
    }
    Some(IdToken {
        jwt: jwt.to_string(),
        expires_at_ms: expiry.parse().ok()?,
    })
}

/// The last word of the worker that held the fetch lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// A worker is fetching; others wait until `until_ms` at most.
    Fetching { until_ms: u64 },
    /// The last fetch failed; nobody retries before `until_ms`.
    Failed { until_ms: u64 },
    /// The last fetch succeeded (the token entry holds the result).
    Done,
}

impl Lease {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Lease::Fetching { until_ms } => format!("{until_ms} fetching"),
            Lease::Failed { until_ms } => format!("{until_ms} failed"),
            Lease::Done => "0 done".to_string(),
        }
        .into_bytes()
    }

    /// `None` for anything this filter did not write (treated as a free lease).
    pub fn decode(bytes: &[u8]) -> Option<Lease> {
        let text = std::str::from_utf8(bytes).ok()?;
        let (until, state) = text.split_once(' ')?;
        let until_ms = until.parse().ok()?;
        match state {
            "fetching" => Some(Lease::Fetching { until_ms }),
            "failed" => Some(Lease::Failed { until_ms }),
            "done" => Some(Lease::Done),
            _ => None,
        }
    }

    /// Whether another worker may take the lease at `now_ms`.
    pub fn is_free(lease: Option<Lease>, now_ms: u64) -> bool {
        match lease {
            None | Some(Lease::Done) => true,
            Some(Lease::Fetching { until_ms }) | Some(Lease::Failed { until_ms }) => {
                now_ms >= until_ms
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_namespaced_by_the_token_source() {
        assert_eq!(
            token_key("abc", "https://b.run.app"),
            "wasp/idtoken/abc/https://b.run.app"
        );
        assert_ne!(lease_key("abc", "x"), lease_key("abd", "x"));
        assert_ne!(lease_key("abc", "x"), token_key("abc", "x"));
    }

    #[test]
    fn token_round_trips() {
        let token = IdToken {
            jwt: "h.p.s".into(),
            expires_at_ms: 1_700_000_000_123,
        };
        assert_eq!(decode_token(&encode_token(&token)), Some(token));
        for junk in [&b""[..], b"12", b"x\nh.p.s", b"12\n", &[0xff, b'\n', b'a']] {
            assert_eq!(decode_token(junk), None);
        }
    }

    #[test]
    fn lease_round_trips_and_frees_at_its_deadline() {
        for lease in [
            Lease::Fetching { until_ms: 5 },
            Lease::Failed { until_ms: 7 },
            Lease::Done,
        ] {
            assert_eq!(Lease::decode(&lease.encode()), Some(lease));
        }
        assert_eq!(Lease::decode(b"5 sleeping"), None);
        assert!(Lease::is_free(None, 0));
        assert!(Lease::is_free(Some(Lease::Done), 0));
        assert!(!Lease::is_free(Some(Lease::Fetching { until_ms: 10 }), 9));
        assert!(Lease::is_free(Some(Lease::Fetching { until_ms: 10 }), 10));
        assert!(!Lease::is_free(Some(Lease::Failed { until_ms: 10 }), 9));
    }
}
