//! Consumer ids as Service Control spells them (`Operation.consumer_id`,
//! `QuotaOperation.consumer_id`): `api_key:<key>`, `project:<project id>`,
//! `project_number:<number>`, or empty for calls not tied to a consumer.

/// A parsed consumer id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumer<'a> {
    ApiKey(&'a str),
    Project(&'a str),
    ProjectNumber(i64),
    Anonymous,
}

/// Parses a consumer id; the error says what was wrong, for a 400 body.
pub fn parse_consumer(id: &str) -> Result<Consumer<'_>, String> {
    if id.is_empty() {
        return Ok(Consumer::Anonymous);
    }
    let (kind, value) = id.split_once(':').ok_or_else(|| {
        format!(
            "consumer_id {id:?} has no kind; use api_key:<key>, project:<id> or project_number:<n>"
        )
    })?;
    if value.is_empty() {
        return Err(format!("consumer_id {id:?} has an empty value"));
    }
    match kind {
        "api_key" => Ok(Consumer::ApiKey(value)),
        "project" => Ok(Consumer::Project(value)),
        "project_number" => value
            .parse()
            .map(Consumer::ProjectNumber)
            .map_err(|_| format!("consumer_id {id:?} does not carry a decimal project number")),
        other => Err(format!(
            "consumer_id kind {other:?} is not supported; use api_key:<key>, project:<id> or project_number:<n>"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        assert_eq!(
            parse_consumer("api_key:AIza:x"),
            Ok(Consumer::ApiKey("AIza:x"))
        );
        assert_eq!(
            parse_consumer("project:shop"),
            Ok(Consumer::Project("shop"))
        );
        assert_eq!(
            parse_consumer("project_number:12"),
            Ok(Consumer::ProjectNumber(12))
        );
        assert_eq!(parse_consumer(""), Ok(Consumer::Anonymous));
    }

    #[test]
    fn rejects_malformed_ids() {
        for bad in ["shop", "api_key:", "project_number:x", "folder:1"] {
            assert!(parse_consumer(bad).is_err(), "{bad}");
        }
    }
}
