//! The request facts Check and AllocateQuota carry as `servicecontrol.googleapis.com/*`
//! labels (ESPv2's `request_builder.cc`): caller IP, referer, user agent, service agent and the
//! Android / iOS application identifiers Google uses for key restrictions.

use std::collections::BTreeMap;

const PREFIX: &str = "servicecontrol.googleapis.com/";
/// ESPv2 sends this user agent; Google's service knows it.
const USER_AGENT: &str = "ESPv2";

/// What the labels are made from, taken from the request once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFacts {
    /// The client address (the adapter applies the trusted-hop rule to `x-forwarded-for`).
    pub caller_ip: String,
    pub referer: String,
    pub android_package: String,
    pub android_cert: String,
    pub ios_bundle_id: String,
}

impl RequestFacts {
    /// Reads the headers ESPv2 reads (first occurrence, names case-insensitive).
    pub fn from_headers(headers: &[(String, String)], caller_ip: &str) -> RequestFacts {
        let first = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        RequestFacts {
            caller_ip: caller_ip.to_string(),
            referer: first("referer"),
            android_package: first("x-android-package"),
            android_cert: first("x-android-cert"),
            ios_bundle_id: first("x-ios-bundle-identifier"),
        }
    }

    /// What a cached Check result is valid for besides operation and key: every fact Google
    /// may restrict a key by (IP, referer, Android / iOS app).
    pub fn cache_context(&self) -> String {
        [
            &self.caller_ip,
            &self.referer,
            &self.android_package,
            &self.android_cert,
            &self.ios_bundle_id,
        ]
        .map(String::as_str)
        .join("\n")
    }

    /// Labels of a CheckRequest operation.
    pub fn check_labels(&self, service_agent: &str) -> BTreeMap<String, String> {
        let mut labels = self.quota_labels(service_agent);
        for (name, value) in [
            ("referer", &self.referer),
            ("android_package_name", &self.android_package),
            ("android_cert_fingerprint", &self.android_cert),
            ("ios_bundle_id", &self.ios_bundle_id),
        ] {
            if !value.is_empty() {
                labels.insert(format!("{PREFIX}{name}"), value.clone());
            }
        }
        labels
    }

    /// Labels of an AllocateQuota operation (user agent, service agent, caller IP).
    pub fn quota_labels(&self, service_agent: &str) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        labels.insert(format!("{PREFIX}user_agent"), USER_AGENT.to_string());
        labels.insert(format!("{PREFIX}service_agent"), service_agent.to_string());
        if !self.caller_ip.is_empty() {
            labels.insert(format!("{PREFIX}caller_ip"), self.caller_ip.clone());
        }
        labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_labels_carry_the_present_facts() {
        let headers = vec![
            ("Referer".to_string(), "https://app.example/".to_string()),
            ("X-Android-Package".to_string(), "com.example".to_string()),
        ];
        let labels = RequestFacts::from_headers(&headers, "10.0.0.7").check_labels("wasp/1");
        assert_eq!(
            labels["servicecontrol.googleapis.com/caller_ip"],
            "10.0.0.7"
        );
        assert_eq!(
            labels["servicecontrol.googleapis.com/referer"],
            "https://app.example/"
        );
        assert_eq!(
            labels["servicecontrol.googleapis.com/android_package_name"],
            "com.example"
        );
        assert_eq!(labels["servicecontrol.googleapis.com/user_agent"], "ESPv2");
        assert_eq!(
            labels["servicecontrol.googleapis.com/service_agent"],
            "wasp/1"
        );
        assert!(!labels.contains_key("servicecontrol.googleapis.com/ios_bundle_id"));
        let facts = RequestFacts::from_headers(&headers, "10.0.0.7");
        assert_ne!(
            facts.cache_context(),
            RequestFacts::from_headers(&[], "10.0.0.7").cache_context()
        );
        let quota = RequestFacts::from_headers(&headers, "").quota_labels("wasp/1");
        assert_eq!(quota.len(), 2);
    }
}
