//! The per-request context: reads the request head, asks
//! [`decide`](crate::decision::decide) and executes the decision.

use std::rc::Rc;

use log::{error, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType, Status};
use wasp_config::{OPERATION_PROPERTY, ROUTE_HEADER};

use crate::decision::{decide, Decision, Forward};
use crate::local_reply::{LocalReply, CONTENT_TYPE};
use crate::matcher::Matcher;

pub(super) struct WaspHttp {
    matcher: Option<Rc<Matcher>>,
}

impl WaspHttp {
    pub(super) fn new(matcher: Option<Rc<Matcher>>) -> WaspHttp {
        WaspHttp { matcher }
    }
}

impl Context for WaspHttp {}

impl HttpContext for WaspHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(matcher) = self.matcher.as_deref() else {
            return reply(&LocalReply::NotConfigured);
        };
        // One host call for the whole head; pseudo headers are in it.
        let headers = match hostcalls::get_map(MapType::HttpRequestHeaders) {
            Ok(headers) => headers,
            Err(status) => {
                error!("cannot read request headers: {status:?}");
                return reply(&LocalReply::Internal);
            }
        };
        let value = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map_or("", |(_, v)| v.as_str())
        };
        let decision = decide(
            matcher,
            value(":method"),
            value(":path"),
            headers.iter().map(|(n, _)| n.as_str()),
        );
        match decision {
            Decision::Reply(local) => reply(&local),
            Decision::Forward(forward) => match apply(&forward) {
                Ok(()) => Action::Continue,
                Err(status) => {
                    // Without the route header the request would reach the wrong
                    // route, so fail closed.
                    error!(
                        "cannot set the route for {}: {status:?}",
                        forward.operation_name
                    );
                    reply(&LocalReply::Internal)
                }
            },
        }
    }
}

/// Strips client-sent internal headers, then pins the route and records the operation.
fn apply(forward: &Forward) -> Result<(), Status> {
    for name in &forward.headers_to_remove {
        hostcalls::remove_map_value(MapType::HttpRequestHeaders, name)?;
    }
    hostcalls::set_map_value(
        MapType::HttpRequestHeaders,
        ROUTE_HEADER,
        Some(forward.route_id),
    )?;
    hostcalls::set_property(
        vec![OPERATION_PROPERTY],
        Some(forward.operation_name.as_bytes()),
    )?;
    Ok(())
}

/// Sends a local reply; the request stops here.
fn reply(local: &LocalReply) -> Action {
    let body = local.body();
    if let Err(status) = hostcalls::send_http_response(
        local.status(),
        vec![("content-type", CONTENT_TYPE)],
        Some(body.as_bytes()),
    ) {
        warn!("cannot send the {} reply: {status:?}", local.status());
    }
    Action::Pause
}
