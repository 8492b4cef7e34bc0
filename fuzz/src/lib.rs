//! Helpers shared by the fuzz targets: the text formats some targets read, compile options
//! as `wasp compile` builds them, and the invariants several targets check.
//!
//! Text formats (so the seed corpus is readable and easy to extend by hand):
//! - a request head: the first line is `METHOD PATH` (PATH is the rest of the line, spaces
//!   included), every further line is `name: value` (split at the first `:` after the first
//!   character, so `:authority: x` is a pseudo header; one space after the `:` is dropped);
//!   lines starting with `@` are directives for the target (see each target);
//! - a template list: one operation per line, `METHOD TEMPLATE` (or just `TEMPLATE`: GET);
//!   lines starting with `? ` are requests, `? METHOD PATH`.

use clap::Parser as _;
use wasp_config::{FilterConfig, Operation, PathTemplate, Segment};
use wasp_filter::decision::{decide, Decision};
use wasp_filter::gateway::Gateway;
use wasp_filter::head::Head;
use wasp_filter::local_reply::LocalReply;
use wasp_filter::matcher::{bind, MatchOutcome, Matcher};
use wasp_spec_compiler::cli::{Cli, Command};
use wasp_spec_compiler::compile::CompileOptions;

/// A parsed request head.
#[derive(Debug, Clone, Default)]
pub struct RequestHead {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// `@...` lines, without the `@`.
    pub directives: Vec<String>,
}

/// Reads the request-head text format (see the module docs).
pub fn request_head(data: &[u8]) -> RequestHead {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let mut head = RequestHead::default();
    if let Some(first) = lines.next() {
        let (method, path) = first.split_once(' ').unwrap_or((first, ""));
        head.method = method.to_string();
        head.path = path.to_string();
    }
    for line in lines {
        if let Some(directive) = line.strip_prefix('@') {
            head.directives.push(directive.to_string());
            continue;
        }
        let split = line
            .char_indices()
            .skip(1)
            .find(|&(_, c)| c == ':')
            .map(|(i, _)| i);
        let (name, value) = match split {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, ""),
        };
        let value = value.strip_prefix(' ').unwrap_or(value);
        head.headers.push((name.to_string(), value.to_string()));
    }
    head
}

/// The header list Envoy hands the filter for `head`: pseudo headers first.
pub fn envoy_headers(head: &RequestHead) -> Vec<(String, String)> {
    let mut headers = vec![
        (":method".to_string(), head.method.clone()),
        (":path".to_string(), head.path.clone()),
    ];
    headers.extend(head.headers.iter().cloned());
    headers
}

/// One line of the template-list format.
#[derive(Debug, Clone)]
pub enum TemplateLine {
    Operation { method: String, template: String },
    Request { method: String, path: String },
}

/// Reads the template-list format (see the module docs).
pub fn template_lines(data: &[u8]) -> Vec<TemplateLine> {
    let text = String::from_utf8_lossy(data);
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .map(|line| {
            if let Some(request) = line.strip_prefix("? ") {
                let (method, path) = request.split_once(' ').unwrap_or(("GET", request));
                return TemplateLine::Request {
                    method: method.to_string(),
                    path: path.to_string(),
                };
            }
            let (method, template) = match line.split_once(' ') {
                Some((method, template)) if !method.starts_with('/') => (method, template),
                _ => ("GET", line),
            };
            TemplateLine::Operation {
                method: method.to_string(),
                template: template.to_string(),
            }
        })
        .collect()
}

/// `wasp compile` options for `extra` flags after `wasp compile spec.yaml`, as the CLI
/// builds them.
pub fn compile_options(extra: &[&str]) -> CompileOptions {
    let mut argv = vec!["wasp", "compile", "spec.yaml"];
    argv.extend_from_slice(extra);
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => panic!("fuzz options do not parse: {e}"),
    };
    match cli.command {
        Command::Compile(args) | Command::Validate(args) => args.compile_options(),
        other => panic!("fuzz options parse as {other:?}, not compile"),
    }
}

/// A request path the template matches: literals as written, `v<i>` for a `*`, two segments
/// for a `**`, the verb after a `:`.
pub fn instantiate(template: &PathTemplate) -> String {
    let mut path = String::new();
    for (i, segment) in template.segments.iter().enumerate() {
        path.push('/');
        match segment {
            Segment::Literal(literal) => path.push_str(literal),
            Segment::Single => path.push_str(&format!("v{i}")),
            Segment::Multi => path.push_str(&format!("m{i}/n{i}")),
        }
    }
    if template.segments.is_empty() {
        path.push('/');
    }
    if let Some(verb) = &template.verb {
        path.push(':');
        path.push_str(verb);
    }
    path
}

/// Parsing a template's rendering gives the same template (the parser is a function of the
/// structure, and the structure holds everything the parser kept).
pub fn check_template_round_trip(text: &str, template: &PathTemplate) {
    let rendered = template.to_string();
    match PathTemplate::parse(&rendered) {
        Ok(again) => assert_eq!(
            &again, template,
            "template {text:?} rendered as {rendered:?} parses differently"
        ),
        Err(e) => panic!("template {text:?} rendered as {rendered:?} no longer parses: {e}"),
    }
    let names: Vec<&str> = template.variables().collect();
    for (i, name) in names.iter().enumerate() {
        assert!(
            !names[..i].contains(name),
            "template {text:?} kept a duplicate variable {name}"
        );
    }
    if let Some(pos) = template
        .segments
        .iter()
        .position(|s| matches!(s, Segment::Multi))
    {
        assert_eq!(
            pos + 1,
            template.segments.len(),
            "template {text:?}: ** not last"
        );
    }
}

/// When the matcher picks an operation for `path`, that operation's template binds `path`
/// with one value per named variable: path translation relies on it (a failed bind is a 500).
pub fn check_found_binds(
    matcher: &Matcher,
    operations: &[Operation],
    method: &str,
    path: &str,
) -> bool {
    let MatchOutcome::Found(target) = matcher.find(method, path) else {
        return false;
    };
    let Some(op) = operations.get(target.index) else {
        panic!(
            "matcher returned index {} of {}",
            target.index,
            operations.len()
        );
    };
    assert_eq!(target.operation, op.name);
    let template = match PathTemplate::parse(&op.template) {
        Ok(t) => t,
        Err(e) => panic!(
            "matched operation's template {:?} does not parse: {e}",
            op.template
        ),
    };
    match bind(&template, path) {
        Some(bindings) => assert_eq!(
            bindings.len(),
            template.variables().count(),
            "{path:?} against {:?}: one binding per named variable",
            op.template
        ),
        None => panic!(
            "matcher chose {:?} ({method}) for {path:?}, but bind() refuses it",
            op.template
        ),
    }
    true
}

/// Every operation can be reached: its method on a path made from its own template finds an
/// operation (itself or an earlier one with the same method and shape), and that one binds.
pub fn check_operations_reachable(matcher: &Matcher, operations: &[Operation]) {
    for op in operations {
        let Ok(template) = PathTemplate::parse(&op.template) else {
            continue;
        };
        let path = instantiate(&template);
        assert!(
            check_found_binds(matcher, operations, &op.method, &path),
            "operation {} ({} {:?}) is unreachable: {} {path:?} finds {:?}",
            op.name,
            op.method,
            op.template,
            op.method,
            matcher.find(&op.method, &path)
        );
    }
}

/// What must hold of any decision: a reply is an error status with ESPv2's JSON body and is
/// never the "cannot happen" 500; a forward points at a real operation and only removes
/// headers the request has.
pub fn check_decision(gateway: &Gateway, headers: &[(String, String)], decision: &Decision) {
    match decision {
        Decision::Reply(reply) => {
            assert!(
                (400..600).contains(&reply.status()),
                "status {}",
                reply.status()
            );
            assert_ne!(
                reply,
                &LocalReply::Internal,
                "decide() answered 500 Internal for {headers:?}"
            );
            let body: serde_json::Value = match serde_json::from_str(&reply.body()) {
                Ok(body) => body,
                Err(e) => panic!("reply body is not JSON: {e}"),
            };
            assert_eq!(body["code"].as_u64(), Some(u64::from(reply.status())));
        }
        Decision::Forward(forward) => {
            let Some(rules) = gateway.rules(forward.operation_index) else {
                panic!(
                    "forward to operation index {} that does not exist",
                    forward.operation_index
                );
            };
            assert_eq!(rules.name, forward.operation_name);
            for (i, name) in forward.headers_to_remove.iter().enumerate() {
                assert!(
                    headers.iter().any(|(n, _)| n == name),
                    "removes unsent {name}"
                );
                assert!(
                    !forward.headers_to_remove[..i]
                        .iter()
                        .any(|seen| seen.eq_ignore_ascii_case(name)),
                    "removes {name} twice"
                );
                assert!(!name.starts_with(':'), "removes pseudo header {name}");
            }
            if let Some(auth) = &forward.backend_auth {
                assert!(!auth.audience.is_empty());
            }
        }
    }
}

/// Builds the gateway for a config the filter accepted, like `on_configure`.
pub fn gateway(config: FilterConfig) -> Option<Gateway> {
    Gateway::build(config).ok()
}

/// Runs [`decide`] on `headers` and checks [`check_decision`].
pub fn decide_and_check(gateway: &Gateway, headers: &[(String, String)]) {
    let head = Head::from_headers(
        headers,
        gateway.envoy_sets_external_address,
        &gateway.generated,
    );
    let decision = decide(gateway, &head);
    check_decision(gateway, headers, &decision);
}
