//! The path-template parser and the matcher. Input: one operation per line (`METHOD
//! TEMPLATE`), requests as `? METHOD PATH` lines. Checks: a parsed template renders back to
//! itself; templates that parse always build a matcher; every operation is reachable; and a
//! path the matcher assigns to an operation binds against that operation's template.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasp_config::{Operation, PathTemplate};
use wasp_filter::matcher::Matcher;
use wasp_fuzz::{
    check_found_binds, check_operations_reachable, check_template_round_trip, template_lines,
    TemplateLine,
};

fuzz_target!(|data: &[u8]| {
    let mut operations = Vec::new();
    let mut requests = Vec::new();
    for line in template_lines(data) {
        match line {
            TemplateLine::Operation { method, template } => {
                let Ok(parsed) = PathTemplate::parse(&template) else {
                    continue;
                };
                check_template_round_trip(&template, &parsed);
                let index = operations.len();
                operations.push(Operation {
                    name: format!("1.fuzz.op{index}"),
                    method,
                    template,
                    route: "r".into(),
                    // Every third one, as `x-google-allow: all` adds them.
                    allow_all: index % 3 == 2,
                    path_translation: None,
                    backend_auth: None,
                    security: None,
                });
            }
            TemplateLine::Request { method, path } => requests.push((method, path)),
        }
    }
    let matcher = match Matcher::build(&operations) {
        Ok(matcher) => matcher,
        Err(e) => panic!("templates that parse do not build a matcher: {e}"),
    };
    check_operations_reachable(&matcher, &operations);
    for (method, path) in &requests {
        check_found_binds(&matcher, &operations, method, path);
    }
});
