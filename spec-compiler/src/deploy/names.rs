//! The names every target's files share: the object name, the config id, and
//! wasp-control's Service when the config calls it.

use super::{DeployFlags, Target};
use crate::backend::Backend;
use crate::compile::Compiled;
use crate::errors::{Diagnostic, Diagnostics};
use crate::upstreams::UpstreamRole;

/// wasp-control, when the config's Service Control is one the user runs (not Google's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlService {
    /// The Kubernetes Service / compose service name: the URL host's first label.
    pub service: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployNames {
    /// Kubernetes object / compose project name (DNS-1123 label).
    pub name: String,
    pub config_id: String,
    pub control: Option<ControlService>,
}

/// Kubernetes names are DNS-1123 labels: at most 63 of `a-z0-9-`.
const MAX_LABEL: usize = 63;

impl DeployNames {
    pub fn new(flags: &DeployFlags, compiled: &Compiled) -> Result<DeployNames, Diagnostics> {
        let name = match &flags.deploy_name {
            Some(given) => {
                check_label(given).map_err(|e| vec![Diagnostic::option("--deploy-name", e)])?;
                given.clone()
            }
            None => label_from(&compiled.config.service_name),
        };
        let control_upstream = compiled
            .upstreams
            .iter()
            .find(|u| u.role == UpstreamRole::ServiceControl)
            .filter(|_| compiled.control_json.is_some());
        let control = control_upstream.and_then(|u| control_service(&u.backend));
        // wasp-control's objects go to --namespace; a URL naming another one would miss them.
        let kubernetes = !matches!(flags.target, Target::Envoy | Target::Compose);
        if let (true, Some(u), Some(_)) = (kubernetes, control_upstream, &control) {
            let namespace = u.backend.host.split('.').nth(1);
            if u.backend.host.ends_with(".svc.cluster.local")
                && namespace != Some(flags.namespace.as_str())
            {
                return Err(vec![Diagnostic::option(
                    "--service-control-url",
                    format!(
                        "{} names namespace {:?}, but wasp-control is written into --namespace {:?}; make them the same",
                        u.backend.authority(),
                        namespace.unwrap_or_default(),
                        flags.namespace
                    ),
                )]);
            }
        }
        Ok(DeployNames {
            name,
            config_id: compiled.config.config_hash.clone(),
            control,
        })
    }

    /// The ConfigMap holding this config: named by its id, never changed in place, so
    /// a new config is a new pod template and a rolling update.
    pub fn config_map(&self, component: &str) -> String {
        let suffix = format!("-{component}-{}", self.config_id);
        let keep = MAX_LABEL.saturating_sub(suffix.len());
        let base: String = self.name.chars().take(keep).collect();
        format!("{}{suffix}", base.trim_end_matches('-'))
    }
}

/// The `--backend`: route `r0`'s upstream, present in every config.
pub fn flag_backend(compiled: &Compiled) -> Option<&Backend> {
    let first = compiled.routes.first()?;
    compiled.upstream_of(first).map(|u| &u.backend)
}

/// wasp-control's Service from the Service Control URL; `None` for Google's.
fn control_service(backend: &Backend) -> Option<ControlService> {
    if backend.host.ends_with("googleapis.com") || backend.ip.is_some() {
        return None;
    }
    let service = backend.host.split('.').next()?.to_string();
    check_label(&service).ok()?;
    Some(ControlService {
        service,
        port: backend.port,
    })
}

/// `hello.endpoints.example.com` -> `hello`; anything else folded into a label.
fn label_from(service_name: &str) -> String {
    let first = service_name.split('.').next().unwrap_or_default();
    let folded = fold_label(first, MAX_LABEL);
    if folded.is_empty() {
        "wasp-api".into()
    } else {
        folded
    }
}

/// `text` as a DNS-1123 label of at most `max` characters: lower case, every other
/// character `-`, no `-` at either end (`www.googleapis.com` -> `www-googleapis-com`).
pub fn fold_label(text: &str, max: usize) -> String {
    let folded: String = text
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    let cut: String = folded.trim_matches('-').chars().take(max).collect();
    cut.trim_end_matches('-').to_string()
}

fn check_label(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= MAX_LABEL
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a Kubernetes name; use at most 63 of a-z, 0-9 and '-', not starting or ending with '-'"
        ))
    }
}

/// `sha256:` and 64 lowercase hex digits, as registries and Istio write digests.
pub fn check_digest(digest: Option<&str>) -> Result<(), String> {
    let Some(digest) = digest else {
        return Ok(());
    };
    let hex = digest.strip_prefix("sha256:").unwrap_or_default();
    if hex.len() == 64 && hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
        Ok(())
    } else {
        Err(format!(
            "{digest:?} is not an image digest; write sha256: and the 64 lowercase hex digits `make images` prints"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_the_service_name() {
        assert_eq!(label_from("hello.endpoints.example.com"), "hello");
        assert_eq!(label_from("My_API.example.com"), "my-api");
        assert_eq!(label_from("..."), "wasp-api");
        assert!(check_label("Hello").is_err() && check_label("-a").is_err());
        assert!(check_label("a-1").is_ok());
    }

    #[test]
    fn config_maps_are_named_by_the_config_id_within_63_characters() {
        let names = DeployNames {
            name: "x".repeat(63),
            config_id: "0123456789abcdef".into(),
            control: None,
        };
        let name = names.config_map("envoy");
        assert!(
            name.len() <= 63 && name.ends_with("-envoy-0123456789abcdef"),
            "{name}"
        );
    }

    #[test]
    fn control_services_are_named_by_their_host() {
        let b = Backend::parse("http://wasp-control.apps.svc.cluster.local:8790").unwrap();
        assert_eq!(
            control_service(&b),
            Some(ControlService {
                service: "wasp-control".into(),
                port: 8790
            })
        );
        let google = Backend::parse("https://servicecontrol.googleapis.com").unwrap();
        assert_eq!(control_service(&google), None);
    }

    #[test]
    fn digests_are_checked() {
        assert!(check_digest(None).is_ok());
        assert!(check_digest(Some(&format!("sha256:{}", "a".repeat(64)))).is_ok());
        let e = check_digest(Some("abc")).unwrap_err();
        assert!(e.contains("64 lowercase hex"), "{e}");
    }
}
