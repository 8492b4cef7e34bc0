//! The root context: turns the plugin configuration into a [`Matcher`] once,
//! and hands it to every request's context.

use std::rc::Rc;

use log::{error, info};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType};
use wasp_config::FilterConfig;

use super::http::WaspHttp;
use crate::matcher::Matcher;

#[derive(Default)]
pub(super) struct WaspRoot {
    /// `None` until a configuration was accepted.
    matcher: Option<Rc<Matcher>>,
}

impl Context for WaspRoot {}

impl RootContext for WaspRoot {
    /// Returning false makes Envoy refuse the configuration (startup fails, or
    /// an xDS update is rejected and the previous one kept), so a bad config
    /// never serves traffic.
    fn on_configure(&mut self, configuration_size: usize) -> bool {
        match compile(configuration_size) {
            Ok((matcher, summary)) => {
                info!("configuration accepted: {summary}");
                self.matcher = Some(Rc::new(matcher));
                true
            }
            Err(reason) => {
                error!("configuration rejected: {reason}");
                false
            }
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Always a context: the SDK panics on `None`.
        Some(Box::new(WaspHttp::new(self.matcher.clone())))
    }
}

/// Reads and checks the plugin configuration and builds the matcher.
fn compile(configuration_size: usize) -> Result<(Matcher, String), String> {
    let bytes = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, configuration_size)
        .map_err(|status| format!("cannot read the plugin configuration: {status:?}"))?
        .ok_or("the plugin configuration is empty; set it to the filter.json that `wasp compile` wrote")?;
    let config = FilterConfig::from_json(&bytes)?;
    let matcher = Matcher::build(&config.operations)?;
    let summary = format!(
        "service {}, {} operations, {} routes, config {}",
        config.service_name,
        config.operations.len(),
        config.routes.len(),
        config.config_hash
    );
    Ok((matcher, summary))
}
