//! The no-op baseline: one root context, and an HTTP context per request that
//! makes no host call, so Envoy only pays for entering the VM.
//!
//! Given a plugin configuration `probe:<call>,<call>...` it makes those host calls on
//! every request instead, so `make bench-instructions` (`VARIANTS=probes`) can price one
//! host call of each kind over the no-op: what any filter pays for what it reads and
//! writes. Any other configuration (wasp's filter.json, when the bench swaps the module)
//! means no calls.

use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, MapType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(NoopRoot::default()) });
}}

/// One host call a probe makes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    /// `:path`: a header read that returns data.
    GetPath,
    /// A header the request does not have: a read that returns nothing.
    GetMissing,
    /// Every request header in one call.
    GetMap,
    /// Sets a request header (Envoy then chooses the route again).
    SetHeader,
    /// Sets a filter-state property.
    SetProperty,
    /// `xds.route_name`: a property read that returns data.
    RouteName,
    /// The response's `:status`.
    Status,
}

impl Call {
    fn parse(name: &str) -> Option<Call> {
        Some(match name {
            "get-path" => Call::GetPath,
            "get-missing" => Call::GetMissing,
            "get-map" => Call::GetMap,
            "set-header" => Call::SetHeader,
            "set-property" => Call::SetProperty,
            "route-name" => Call::RouteName,
            "status" => Call::Status,
            _ => return None,
        })
    }

    fn run(self) {
        let request = MapType::HttpRequestHeaders;
        let _ = match self {
            Call::GetPath => hostcalls::get_map_value_bytes(request, ":path").map(|_| ()),
            Call::GetMissing => hostcalls::get_map_value_bytes(request, "x-absent").map(|_| ()),
            Call::GetMap => hostcalls::get_map_bytes(request).map(|_| ()),
            Call::SetHeader => hostcalls::set_map_value(request, "x-probe", Some("1")),
            Call::SetProperty => hostcalls::set_property(vec!["probe"], Some(b"1")),
            Call::RouteName => hostcalls::get_property(vec!["xds", "route_name"]).map(|_| ()),
            Call::Status => {
                hostcalls::get_map_value_bytes(MapType::HttpResponseHeaders, ":status").map(|_| ())
            }
        };
    }
}

#[derive(Default)]
struct NoopRoot {
    calls: Rc<Vec<Call>>,
}

impl Context for NoopRoot {}

impl RootContext for NoopRoot {
    fn on_configure(&mut self, size: usize) -> bool {
        let config = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, size)
            .ok()
            .flatten()
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&config);
        if let Some(list) = text.strip_prefix("probe:") {
            let calls: Option<Vec<Call>> = list.split(',').map(Call::parse).collect();
            match calls {
                Some(calls) => self.calls = Rc::new(calls),
                None => return false,
            }
        }
        true
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(NoopHttp {
            calls: Rc::clone(&self.calls),
        }))
    }
}

struct NoopHttp {
    calls: Rc<Vec<Call>>,
}

impl Context for NoopHttp {}

impl HttpContext for NoopHttp {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        for call in self.calls.iter().filter(|c| **c != Call::Status) {
            call.run();
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        if self.calls.contains(&Call::Status) {
            Call::Status.run();
        }
        Action::Continue
    }
}
