//! One VM's Service Control state: the flow's caches and the report batcher. No host work
//! beyond defining and bumping its counters; `control` makes the calls.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use log::warn;
use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;
use wasp_config::service_control::ControlClientConfig;
use wasp_control_client::{ControlState, OperationIds, ReportBatcher, ReportRequest};

use super::reads::now_ms;
use crate::service_control::{operation_index, Exported, METRICS};

/// One VM's Service Control state; every borrow ends before the next host call.
pub(super) struct ControlRuntime {
    pub config: ControlClientConfig,
    pub state: RefCell<ControlState>,
    pub ids: RefCell<OperationIds>,
    pub(super) batcher: RefCell<ReportBatcher>,
    /// Full batches from `on_log`, sent by the root's next tick.
    pub(super) outbox: RefCell<Vec<ReportRequest>>,
    /// Each operation's settings (by the gateway's operation index) in `config.operations`.
    pub(super) operations: Vec<Option<usize>>,
    /// Envoy counter ids of [`METRICS`] (`None` where the host refused one).
    metric_ids: Vec<Option<u32>>,
    exported: RefCell<Exported>,
}

impl ControlRuntime {
    pub fn new<'a>(
        config: ControlClientConfig,
        operation_names: impl Iterator<Item = &'a str>,
    ) -> ControlRuntime {
        // Seeded from WASI's random source (std's hasher keys): ids differ between VMs.
        let seed = RandomState::new().hash_one(now_ms());
        ControlRuntime {
            state: RefCell::new(ControlState::new(&config)),
            ids: RefCell::new(OperationIds::new(seed)),
            batcher: RefCell::new(ReportBatcher::new(&config, seed.rotate_left(17))),
            outbox: RefCell::new(Vec::new()),
            operations: operation_index(&config, operation_names),
            metric_ids: METRICS
                .iter()
                .map(|name| hostcalls::define_metric(MetricType::Counter, name).ok())
                .collect(),
            exported: RefCell::new(Exported::default()),
            config,
        }
    }

    /// Adds what the flow counted since the last export to the Envoy counters.
    pub fn export_counters(&self) {
        let deltas = self
            .exported
            .borrow_mut()
            .deltas(&self.state.borrow().counters);
        for (id, delta) in self.metric_ids.iter().zip(deltas) {
            if let (Some(id), Ok(delta @ 1..)) = (id, i64::try_from(delta)) {
                let _ = hostcalls::increment_metric(*id, delta);
            }
        }
    }

    /// Prints what the flow wanted logged (already throttled by the client).
    pub fn flush_logs(&self) {
        for line in self.state.borrow_mut().drain_logs() {
            warn!("{line}");
        }
    }
}
