//! The config hash: identifies one compile's inputs so the filter can
//! namespace shared state per config.

use crate::read::source::SourceFile;
use sha2::{Digest, Sha256};

/// Hex SHA-256, first 16 characters, over every file's name and bytes and
/// every option that changes the output (given as `name=value` pairs). Each
/// piece is length-prefixed so that moving bytes between pieces changes the hash.
pub fn config_hash(files: &[SourceFile], options: &[(&str, String)]) -> String {
    let mut hasher = Sha256::new();
    let mut piece = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    };
    for file in files {
        piece(file.name.as_bytes());
        piece(&file.bytes);
    }
    for (name, value) in options {
        piece(name.as_bytes());
        piece(value.as_bytes());
    }
    let digest = hasher.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, body: &str) -> SourceFile {
        SourceFile {
            name: name.into(),
            bytes: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn sixteen_hex_chars_that_change_with_any_input() {
        let base = config_hash(&[file("a.yaml", "x")], &[("backend", "http://a".into())]);
        assert_eq!(base.len(), 16);
        assert!(base.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            base,
            config_hash(&[file("a.yaml", "x")], &[("backend", "http://a".into())])
        );
        assert_ne!(
            base,
            config_hash(&[file("b.yaml", "x")], &[("backend", "http://a".into())])
        );
        assert_ne!(
            base,
            config_hash(&[file("a.yaml", "y")], &[("backend", "http://a".into())])
        );
        assert_ne!(
            base,
            config_hash(&[file("a.yaml", "x")], &[("backend", "http://b".into())])
        );
        // Length prefixes: the same bytes split differently hash differently.
        assert_ne!(
            config_hash(&[file("ab", "c")], &[]),
            config_hash(&[file("a", "bc")], &[])
        );
    }
}
