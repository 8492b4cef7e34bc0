//! Finds the operation for a request's method and path, built once per configuration.
//!
//! The templates form a segment trie: each node has its literal children in a
//! map, at most one `{x}`/`*` child and at most one `{x=**}`/`**` child, and per
//! custom verb a method -> operation table where a template ends. A lookup walks
//! the trie depth-first in precedence order (literal, then `{x}`, then the path
//! ending, then `**`; see [`score`]), so the first table holding the method is the
//! best match. The walk only follows nodes that match the path so far: its cost
//! depends on the path and on how many templates share its prefixes, not on the
//! number of operations, and its depth is bounded by the longest template.

mod bindings;
mod request_path;
mod score;

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};

use wasp_config::{Operation, PathTemplate, Segment};

pub use bindings::{bind, Binding};
use request_path::{Reading, RequestPath};
use score::{Rank, Specificity};

/// What a request is forwarded as once matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Fully qualified operation name (`1.<api>.<OperationId>`).
    pub operation: String,
    /// Route id the request goes to ([`wasp_config::ROUTE_HEADER`]).
    pub route: String,
    /// Position of the operation in the configuration's operation list.
    pub index: usize,
}

/// The answer for one (method, path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOutcome<'m> {
    /// The best operation for this method and path.
    Found(&'m Target),
    /// The path matches a template, but no operation on it has this method.
    /// `template` is the best such template, as written in the spec.
    MethodNotAllowed { template: &'m str },
    /// No template matches the path.
    NotFound,
}

/// The compiled operation table; immutable after [`Matcher::build`].
#[derive(Debug, Default)]
pub struct Matcher {
    root: Node,
    /// Every custom verb some template uses, so only those are split off paths.
    verbs: HashSet<String>,
    /// ESPv2's `--disallow_colon_in_wildcard_path_segment`: `*` and `**` match no `:`.
    wildcards_refuse_colons: bool,
}

#[derive(Debug, Default)]
struct Node {
    literal: HashMap<String, Node>,
    single: Option<Box<Node>>,
    multi: Option<Box<Node>>,
    /// Templates that end at this node, keyed by custom verb (`""`: no verb;
    /// the template parser rejects empty verbs).
    ends: HashMap<String, End>,
}

#[derive(Debug, Default)]
struct End {
    /// Upper-case method -> operation; the first operation in spec order wins.
    methods: HashMap<String, Target>,
    /// The first template written here by a real (not `x-google-allow: all`)
    /// operation; names the template in a 405. `None`: only allow-all
    /// operations end here, so a wrong method is a 404, not a 405.
    not_allowed_template: Option<String>,
}

impl Matcher {
    /// Builds the trie from the operations, in spec order.
    pub fn build(operations: &[Operation]) -> Result<Matcher, String> {
        let mut matcher = Matcher::default();
        for (index, op) in operations.iter().enumerate() {
            let template = PathTemplate::parse(&op.template)
                .map_err(|e| format!("operation {}: {e}", op.name))?;
            matcher.insert(index, op, template);
        }
        Ok(matcher)
    }

    /// Makes `*`/`{x}` and `**`/`{x=**}` refuse segments with a `:` (HttpRule's templates
    /// forbid a literal colon there).
    pub fn refusing_colons_in_wildcards(mut self, refuse: bool) -> Matcher {
        self.wildcards_refuse_colons = refuse;
        self
    }

    fn insert(&mut self, index: usize, op: &Operation, template: PathTemplate) {
        let mut node = &mut self.root;
        for segment in template.segments {
            node = match segment {
                Segment::Literal(text) => node.literal.entry(text).or_default(),
                Segment::Single => node.single.get_or_insert_with(Box::default),
                Segment::Multi => node.multi.get_or_insert_with(Box::default),
            };
        }
        if let Some(verb) = &template.verb {
            self.verbs.insert(verb.clone());
        }
        let end = node
            .ends
            .entry(template.verb.unwrap_or_default())
            .or_default();
        end.methods
            .entry(op.method.clone())
            .or_insert_with(|| Target {
                operation: op.name.clone(),
                route: op.route.clone(),
                index,
            });
        // `x-google-allow: all` binds `/**` for five methods only; as in ESPv2 another method
        // (HEAD, OPTIONS) on an unknown path gets the 405 naming `/**`, not a 404.
        if end.not_allowed_template.is_none() {
            end.not_allowed_template = Some(op.template.clone());
        }
    }

    /// The best operation for `method` (case-sensitive, as Envoy's route match)
    /// and the raw `:path`, or why there is none.
    pub fn find(&self, method: &str, path: &str) -> MatchOutcome<'_> {
        let Some(path) = RequestPath::parse(path) else {
            return MatchOutcome::NotFound;
        };
        let mut found: Option<(Specificity, &Target)> = None;
        let mut not_allowed: Option<(Specificity, &str)> = None;
        for reading in path.readings(|verb| self.verbs.contains(verb)) {
            let mut walk = Walk {
                reading,
                method,
                refuse_colons: self.wildcards_refuse_colons,
                ranks: Vec::new(),
                found: None,
                not_allowed: None,
            };
            walk.visit(&self.root, 0);
            found = better(found, walk.found);
            not_allowed = better(not_allowed, walk.not_allowed);
        }
        match (found, not_allowed) {
            (Some((_, target)), _) => MatchOutcome::Found(target),
            (None, Some((_, template))) => MatchOutcome::MethodNotAllowed { template },
            (None, None) => MatchOutcome::NotFound,
        }
    }
}

/// The more specific of two candidates; `a` on a tie (cannot happen across
/// readings, whose verbs differ, but keeps the choice deterministic).
fn better<T>(a: Option<(Specificity, T)>, b: Option<(Specificity, T)>) -> Option<(Specificity, T)> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.0 > a.0 { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// One depth-first walk of the trie for one reading of the path.
struct Walk<'m, 'r> {
    reading: Reading<'r>,
    method: &'r str,
    refuse_colons: bool,
    /// Ranks of the trie edges taken so far (the current match's [`Specificity`]).
    ranks: Vec<Rank>,
    found: Option<(Specificity, &'m Target)>,
    not_allowed: Option<(Specificity, &'m str)>,
}

impl<'m> Walk<'m, '_> {
    /// Visits the options at path position `index` in precedence order; returns
    /// true once an operation with the method is found (nothing later can beat it).
    fn visit(&mut self, node: &'m Node, index: usize) -> bool {
        match self.reading.get(index) {
            Some(segment) => {
                if let Some(child) = node.literal.get(segment) {
                    if self.step(Rank::Literal, |walk| walk.visit(child, index + 1)) {
                        return true;
                    }
                }
                let wildcard_may_take = !segment.is_empty() && !self.colon_refused(segment);
                if let Some(child) = node.single.as_deref().filter(|_| wildcard_may_take) {
                    if self.step(Rank::Single, |walk| walk.visit(child, index + 1)) {
                        return true;
                    }
                }
            }
            None => {
                if self.step(Rank::End, |walk| walk.arrive(node)) {
                    return true;
                }
            }
        }
        match node.multi.as_deref() {
            Some(child) if self.reading.slash_after(index) && self.rest_free_of_colons(index) => {
                self.step(Rank::Multi, |walk| walk.arrive(child))
            }
            _ => false,
        }
    }

    fn colon_refused(&self, segment: &str) -> bool {
        self.refuse_colons && segment.contains(':')
    }

    /// Whether a `**` from `index` may take the rest of the path.
    fn rest_free_of_colons(&self, index: usize) -> bool {
        !self.refuse_colons
            || (index..self.reading.len())
                .filter_map(|i| self.reading.get(i))
                .all(|segment| !segment.contains(':'))
    }

    /// Takes one trie edge of `rank` for the duration of `next`.
    fn step(&mut self, rank: Rank, next: impl FnOnce(&mut Self) -> bool) -> bool {
        self.ranks.push(rank);
        let done = next(self);
        self.ranks.pop();
        done
    }

    /// The path is fully matched at `node`: look up the verb and the method.
    fn arrive(&mut self, node: &'m Node) -> bool {
        let Some(end) = node.ends.get(self.reading.verb.unwrap_or_default()) else {
            return false;
        };
        if let Some(target) = end.methods.get(self.method) {
            self.found = Some((self.specificity(), target));
            return true;
        }
        if self.not_allowed.is_none() {
            if let Some(template) = &end.not_allowed_template {
                self.not_allowed = Some((self.specificity(), template.as_str()));
            }
        }
        false
    }

    fn specificity(&self) -> Specificity {
        Specificity {
            ranks: self.ranks.clone(),
            verb_len: self.reading.verb.map(str::len),
        }
    }
}
