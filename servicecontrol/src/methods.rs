//! The three HTTP endpoints of Service Control v1 (`google.api.http` options in
//! service_controller.proto and quota_controller.proto): `POST /v1/services/{name}:check`,
//! `:allocateQuota`, `:report`. One definition for the filter (builds the paths) and the
//! control service (parses them).

/// Path prefix of every Service Control call.
pub const SERVICES_PATH_PREFIX: &str = "/v1/services/";

/// A Service Control RPC reachable over HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Check,
    AllocateQuota,
    Report,
}

impl Method {
    /// The verb after the `:` in the path.
    pub fn verb(self) -> &'static str {
        match self {
            Method::Check => "check",
            Method::AllocateQuota => "allocateQuota",
            Method::Report => "report",
        }
    }

    /// `/v1/services/<service>:<verb>`.
    pub fn path(self, service_name: &str) -> String {
        format!("{SERVICES_PATH_PREFIX}{service_name}:{}", self.verb())
    }

    /// Splits `/v1/services/<service>:<verb>` into the service name and the method.
    /// Service names never contain `:` or `/`, so the last `:` separates the verb.
    pub fn parse_path(path: &str) -> Option<(&str, Method)> {
        let rest = path.strip_prefix(SERVICES_PATH_PREFIX)?;
        let (service, verb) = rest.rsplit_once(':')?;
        if service.is_empty() || service.contains('/') {
            return None;
        }
        let method = [Method::Check, Method::AllocateQuota, Method::Report]
            .into_iter()
            .find(|m| m.verb() == verb)?;
        Some((service, method))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        for method in [Method::Check, Method::AllocateQuota, Method::Report] {
            let path = method.path("echo.endpoints.p.cloud.goog");
            assert_eq!(
                Method::parse_path(&path),
                Some(("echo.endpoints.p.cloud.goog", method))
            );
        }
        assert_eq!(
            Method::AllocateQuota.path("a.b"),
            "/v1/services/a.b:allocateQuota"
        );
    }

    #[test]
    fn rejects_other_paths() {
        for path in [
            "/v1/services/a.b:delete",
            "/v1/services/:check",
            "/v1/services/a/b:check",
            "/v1/services/a.b",
            "/v2/services/a.b:check",
            "/v1/services/a.b:Check",
        ] {
            assert_eq!(Method::parse_path(path), None, "{path}");
        }
    }
}
