//! Executes decisions on the request of the current (effective) context.

use log::warn;
use proxy_wasm::hostcalls;
use proxy_wasm::types::{Action, MapType, Status};
use wasp_config::{DENIAL_PROPERTY, OPERATION_PROPERTY, ROUTE_HEADER};

use crate::client_headers::ORIGINAL_PATH;
use crate::decision::Forward;
use crate::local_reply::{LocalReply, CONTENT_TYPE};

/// Strips client-sent headers, keeps the client's path when it will be translated,
/// applies a method override, pins the route (unless Envoy's default route is the
/// operation's) and records the operation. The route header goes after the removals,
/// so a client-sent copy never survives.
pub(super) fn route(forward: &Forward) -> Result<(), Status> {
    for name in &forward.headers_to_remove {
        hostcalls::remove_map_value(MapType::HttpRequestHeaders, name)?;
    }
    if let Some(original) = forward.original_path {
        // After the removals: a client-sent copy never survives. The access log prints it.
        hostcalls::set_map_value(MapType::HttpRequestHeaders, ORIGINAL_PATH, Some(original))?;
    }
    if let Some(header) = forward.operation_name_header {
        hostcalls::set_map_value(
            MapType::HttpRequestHeaders,
            header,
            Some(forward.operation_name),
        )?;
    }
    if let Some(method) = forward.method {
        hostcalls::set_map_value(MapType::HttpRequestHeaders, ":method", Some(method))?;
    }
    if forward.pin {
        hostcalls::set_map_value(
            MapType::HttpRequestHeaders,
            ROUTE_HEADER,
            Some(forward.route_id),
        )?;
    }
    hostcalls::set_property(
        vec![OPERATION_PROPERTY],
        Some(forward.operation_name.as_bytes()),
    )?;
    Ok(())
}

/// For a request answered before routing: the access log prints `x-envoy-original-path`
/// when present, so a client's copy goes (a host call only when one was sent).
pub(super) fn remove_forged_original_path(headers: &[(String, String)]) {
    if headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case(ORIGINAL_PATH))
    {
        if let Err(status) = hostcalls::remove_map_value(MapType::HttpRequestHeaders, ORIGINAL_PATH)
        {
            warn!("cannot remove a client's {ORIGINAL_PATH}: {status:?}");
        }
    }
}

/// Sends a local reply; the request stops here.
pub(super) fn reply(local: &LocalReply) -> Action {
    // For the access log: one host call, only on the requests the filter answers itself.
    if let Err(status) =
        hostcalls::set_property(vec![DENIAL_PROPERTY], Some(local.reason().as_bytes()))
    {
        warn!("cannot record why the request was answered: {status:?}");
    }
    let body = local.body();
    let extra = local.headers();
    let mut headers = vec![("content-type", CONTENT_TYPE)];
    headers.extend(extra.iter().map(|(name, value)| (*name, value.as_str())));
    if let Err(status) =
        hostcalls::send_http_response(local.status(), headers, Some(body.as_bytes()))
    {
        warn!("cannot send the {} reply: {status:?}", local.status());
    }
    Action::Pause
}
