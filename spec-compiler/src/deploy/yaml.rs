//! Multi-document YAML with a comment header, as a user reads and applies it.

use crate::errors::{Diagnostic, Diagnostics};
use serde_json::Value;

/// `header` lines as `# ` comments, then each document, separated by `---`.
pub fn documents(header: &[String], documents: &[Value]) -> Result<String, Diagnostics> {
    let mut text = String::new();
    for line in header {
        if line.is_empty() {
            text.push_str("#\n");
        } else {
            text.push_str("# ");
            text.push_str(line);
            text.push('\n');
        }
    }
    for (i, document) in documents.iter().enumerate() {
        if i > 0 {
            text.push_str("---\n");
        }
        let yaml = serde_norway::to_string(document).map_err(|e| {
            vec![Diagnostic::option(
                "--target",
                format!("cannot write YAML: {e}"),
            )]
        })?;
        text.push_str(&yaml);
    }
    Ok(text)
}
