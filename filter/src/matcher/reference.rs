//! A slow matcher to check the trie against: it scores every template against
//! every reading of the path and takes the maximum, with no trie and no early exit.

use wasp_config::{Operation, PathTemplate, Segment};

use super::request_path::{Reading, RequestPath};
use super::score::{Rank, Specificity};

/// What the reference decides, by operation index and template text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expected {
    Found { operation: String },
    MethodNotAllowed { template: String },
    NotFound,
}

/// Scores `template` against one reading, or `None` when it does not match.
fn score(template: &PathTemplate, reading: &Reading) -> Option<Specificity> {
    if template.verb.as_deref() != reading.verb {
        return None;
    }
    let mut ranks = Vec::new();
    for (index, segment) in template.segments.iter().enumerate() {
        let here = reading.get(index);
        match segment {
            Segment::Literal(text) if here == Some(text.as_str()) => ranks.push(Rank::Literal),
            Segment::Single if here.is_some_and(|s| !s.is_empty()) => ranks.push(Rank::Single),
            Segment::Multi if index <= reading.len() && reading.slash_after(index) => {
                ranks.push(Rank::Multi);
                return Some(Specificity {
                    ranks,
                    verb_len: template.verb.as_ref().map(String::len),
                });
            }
            _ => return None,
        }
    }
    if template.segments.len() != reading.len() {
        return None;
    }
    ranks.push(Rank::End);
    Some(Specificity {
        ranks,
        verb_len: template.verb.as_ref().map(String::len),
    })
}

/// Linear scan: the most specific template with the method (first in spec order
/// on a tie); else the most specific real template for a 405; else 404.
pub(crate) fn expected(operations: &[Operation], method: &str, path: &str) -> Expected {
    let Some(path) = RequestPath::parse(path) else {
        return Expected::NotFound;
    };
    let mut found: Option<(Specificity, std::cmp::Reverse<usize>)> = None;
    let mut not_allowed: Option<(Specificity, std::cmp::Reverse<usize>)> = None;
    for (index, op) in operations.iter().enumerate() {
        let template = PathTemplate::parse(&op.template).unwrap();
        for reading in path.readings(|_| true) {
            let Some(spec) = score(&template, &reading) else {
                continue;
            };
            let candidate = Some((spec, std::cmp::Reverse(index)));
            if op.method == method {
                found = found.max(candidate.clone());
            }
            not_allowed = not_allowed.max(candidate);
        }
    }
    match (found, not_allowed) {
        (Some((_, std::cmp::Reverse(i))), _) => Expected::Found {
            operation: operations[i].name.clone(),
        },
        (None, Some((_, std::cmp::Reverse(i)))) => Expected::MethodNotAllowed {
            template: operations[i].template.clone(),
        },
        (None, None) => Expected::NotFound,
    }
}
