//! `--backend-auth-iam-service-account`: backend ID tokens minted by IAM Credentials'
//! `generateIdToken` for another service account (ESPv2's `--backend_auth_iam_*`), for
//! gateways that run outside the backend's project. The call is authorised by the
//! metadata server's access token, so `--metadata-url` still matters.

use clap::Args;
use wasp_config::IamIdTokens;

use crate::backend::Backend;
use crate::errors::{Diagnostic, Diagnostics};

/// Envoy cluster of the IAM Credentials API.
pub const IAM_CLUSTER: &str = "wasp-iam";

/// `--iam-url`'s default (ESPv2's `--iam_url`).
pub const GOOGLE_IAM_URL: &str = "https://iamcredentials.googleapis.com";

/// ESPv2's `--backend_auth_iam_service_account`, `--backend_auth_iam_delegates`, `--iam_url`.
#[derive(Debug, Clone, Args)]
pub struct IamFlags {
    /// Mint backend ID tokens for this service account through IAM's generateIdToken
    /// (authorised by the metadata server's access token) instead of taking the
    /// metadata server's own identity.
    #[arg(long, value_name = "EMAIL")]
    pub backend_auth_iam_service_account: Option<String>,
    /// The delegation chain for --backend-auth-iam-service-account, comma-separated
    /// service-account emails.
    #[arg(long, value_name = "EMAIL,...", value_delimiter = ',')]
    pub backend_auth_iam_delegates: Vec<String>,
    /// IAM Credentials API base URL (http[s]://host[:port]).
    #[arg(long, value_name = "URL", default_value = GOOGLE_IAM_URL)]
    pub iam_url: String,
}

impl Default for IamFlags {
    fn default() -> Self {
        IamFlags {
            backend_auth_iam_service_account: None,
            backend_auth_iam_delegates: Vec::new(),
            iam_url: GOOGLE_IAM_URL.to_string(),
        }
    }
}

/// The IAM call the filter makes and the cluster it goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamPlan {
    pub tokens: IamIdTokens,
    pub backend: Backend,
}

impl IamFlags {
    /// What the config hash must cover.
    pub fn hashed(&self) -> String {
        format!("{self:?}")
    }

    /// The plan when a service account is given; the flags' problems otherwise.
    pub fn plan(&self) -> Result<Option<IamPlan>, Diagnostics> {
        let mut problems = Diagnostics::new();
        let Some(account) = &self.backend_auth_iam_service_account else {
            if !self.backend_auth_iam_delegates.is_empty() {
                problems.push(Diagnostic::option(
                    "--backend-auth-iam-delegates",
                    "delegates only apply to --backend-auth-iam-service-account; give the account too, or drop the delegates",
                ));
                return Err(problems);
            }
            return Ok(None);
        };
        if let Err(e) = check_account(account) {
            problems.push(Diagnostic::option("--backend-auth-iam-service-account", e));
        }
        for delegate in &self.backend_auth_iam_delegates {
            if let Err(e) = check_account(delegate) {
                problems.push(Diagnostic::option("--backend-auth-iam-delegates", e));
            }
        }
        let backend = Backend::parse(&self.iam_url)
            .map_err(|e| problems.push(Diagnostic::option("--iam-url", e)))
            .ok();
        match backend {
            Some(backend) if problems.is_empty() => Ok(Some(IamPlan {
                tokens: IamIdTokens {
                    cluster: IAM_CLUSTER.to_string(),
                    authority: backend.authority(),
                    path: format!("/v1/{}:generateIdToken", resource_name(account)),
                    delegates: self
                        .backend_auth_iam_delegates
                        .iter()
                        .map(|d| resource_name(d))
                        .collect(),
                },
                backend,
            })),
            _ => Err(problems),
        }
    }
}

/// IAM's name for a service account: `projects/-/serviceAccounts/<email>` (`-` lets
/// IAM find the project from the email).
fn resource_name(account: &str) -> String {
    format!("projects/-/serviceAccounts/{account}")
}

/// An email-shaped account: it goes into a URL path and a JSON body as written.
fn check_account(account: &str) -> Result<(), String> {
    let shaped = account.split_once('@').is_some_and(|(user, domain)| {
        !user.is_empty() && domain.contains('.') && !domain.starts_with('.')
    });
    let clean = account
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"@.-_".contains(&b));
    if shaped && clean {
        Ok(())
    } else {
        Err(format!(
            "{account:?} is not a service-account email; write it like gateway@my-project.iam.gserviceaccount.com"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(account: Option<&str>, delegates: &[&str]) -> IamFlags {
        IamFlags {
            backend_auth_iam_service_account: account.map(str::to_string),
            backend_auth_iam_delegates: delegates.iter().map(|d| d.to_string()).collect(),
            ..IamFlags::default()
        }
    }

    #[test]
    fn no_account_no_plan() {
        assert_eq!(flags(None, &[]).plan().unwrap(), None);
    }

    #[test]
    fn the_account_and_delegates_become_iam_resource_names() {
        let plan = flags(
            Some("sa@p.iam.gserviceaccount.com"),
            &[
                "d1@p.iam.gserviceaccount.com",
                "d2@q.iam.gserviceaccount.com",
            ],
        )
        .plan()
        .unwrap()
        .unwrap();
        assert_eq!(
            plan.tokens.path,
            "/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateIdToken"
        );
        assert_eq!(
            plan.tokens.delegates,
            [
                "projects/-/serviceAccounts/d1@p.iam.gserviceaccount.com",
                "projects/-/serviceAccounts/d2@q.iam.gserviceaccount.com"
            ]
        );
        assert_eq!(plan.tokens.cluster, IAM_CLUSTER);
        assert_eq!(plan.tokens.authority, "iamcredentials.googleapis.com");
        assert!(plan.backend.tls);
    }

    #[test]
    fn bad_flags_say_which_flag_and_what_to_write() {
        let messages = |f: IamFlags| -> Vec<String> {
            f.plan()
                .unwrap_err()
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        let found = messages(flags(None, &["d@p.iam.gserviceaccount.com"]));
        assert!(
            found[0].starts_with("--backend-auth-iam-delegates"),
            "{found:?}"
        );
        let found = messages(flags(Some("not an email"), &["x/y@p.com"]));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].contains("is not a service-account email"),
            "{found:?}"
        );
        let mut bad_url = flags(Some("sa@p.iam.gserviceaccount.com"), &[]);
        bad_url.iam_url = "iamcredentials.googleapis.com".into();
        assert!(messages(bad_url)[0].starts_with("--iam-url"));
    }
}
