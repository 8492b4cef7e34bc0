//! A callout's answer as Envoy announces it to the root context, and how its status and body
//! are read (for every fetcher: ID tokens, JWT keys, Service Control).

use std::cell::RefCell;
use std::collections::HashMap;

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType};

use super::reads::header_map;

/// Whose answer a callout is: the one registry the root reads to hand a response on, instead
/// of asking each fetcher in turn whether the token is its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Owner {
    /// The Check or AllocateQuota of the request with this context id.
    Request(u32),
    /// A report batch (the root's deliveries).
    Report,
    /// A JWT provider's keys or discovery document.
    Keys,
    /// An ID or access token.
    Token,
}

/// Callout token -> owner, for the callouts of one VM in flight. An entry leaves when its
/// answer arrives (every callout has a timeout, so each answers).
#[derive(Debug, Default)]
pub(super) struct Registry {
    owners: RefCell<HashMap<u32, Owner>>,
}

impl Registry {
    pub fn register(&self, token_id: u32, owner: Owner) {
        self.owners.borrow_mut().insert(token_id, owner);
    }

    /// The owner of an answered callout; `None` for a token this VM did not register.
    pub fn take(&self, token_id: u32) -> Option<Owner> {
        self.owners.borrow_mut().remove(&token_id)
    }

    /// Takes the entry only when a request owns the callout, and returns the request's
    /// context id (an HTTP context answers requests' calls and leaves any other to the root).
    pub fn take_request(&self, token_id: u32) -> Option<u32> {
        let mut owners = self.owners.borrow_mut();
        let Some(&Owner::Request(context_id)) = owners.get(&token_id) else {
            return None;
        };
        owners.remove(&token_id);
        Some(context_id)
    }
}

/// The sizes Envoy announces with a callout response.
pub(super) struct Response {
    pub token_id: u32,
    pub num_headers: usize,
    pub body_size: usize,
}

/// The response `:status`. Some failures come with no headers at all, and the
/// SDK's `get_map` panics when the host has no map, so it is not asked then.
pub(super) fn response_status(num_headers: usize) -> Option<u32> {
    if num_headers == 0 {
        return None;
    }
    let headers = header_map(MapType::HttpCallResponseHeaders).ok()?;
    headers
        .into_iter()
        .find(|(name, _)| name == ":status")
        .and_then(|(_, value)| value.parse().ok())
}

pub(super) fn response_body(body_size: usize) -> Vec<u8> {
    if body_size == 0 {
        return Vec::new();
    }
    hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
        .ok()
        .flatten()
        .unwrap_or_default()
}
