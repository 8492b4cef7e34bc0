//! One VM's Service Control state: the flow's caches, the report batcher, and the requests
//! waiting for a Check or AllocateQuota answer by callout token. No host work beyond defining
//! and bumping its counters; `control` makes the calls.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;

use log::warn;
use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;
use wasp_config::service_control::{ControlClientConfig, OperationControl};
use wasp_control_client::{ControlState, Flow, OperationIds, ReportBatcher, ReportRequest};

use super::reads::now_ms;
use crate::service_control::{operation_index, Exported, METRICS};
use crate::waiters::Onward;

/// A request waiting for a Check or AllocateQuota answer.
pub(super) struct ControlPending {
    pub context_id: u32,
    pub flow: Flow,
    pub onward: Onward,
}

/// One VM's Service Control state; every borrow ends before the next host call.
pub(super) struct ControlRuntime {
    pub config: ControlClientConfig,
    pub state: RefCell<ControlState>,
    pub ids: RefCell<OperationIds>,
    pub(super) batcher: RefCell<ReportBatcher>,
    /// Full batches from `on_log`, sent by the root's next tick.
    pub(super) outbox: RefCell<Vec<ReportRequest>>,
    /// Callout token -> the request waiting for it.
    pending: RefCell<HashMap<u32, ControlPending>>,
    /// Each operation's settings (by the gateway's operation index) in `config.operations`.
    operations: Vec<Option<usize>>,
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
            pending: RefCell::new(HashMap::new()),
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

    /// The Service Control settings of the operation at gateway index `index`, if any.
    pub fn operation(&self, index: usize) -> Option<&OperationControl> {
        let entry = self.operations.get(index).copied().flatten()?;
        self.config.operations.get(entry)
    }

    pub fn is_waiting(&self, context_id: u32) -> bool {
        self.pending
            .borrow()
            .values()
            .any(|p| p.context_id == context_id)
    }

    /// A request ended while its callout was out; the answer, if it comes, is dropped.
    pub fn forget(&self, context_id: u32) {
        self.pending
            .borrow_mut()
            .retain(|_, p| p.context_id != context_id);
    }

    pub fn park(&self, token_id: u32, pending: ControlPending) {
        self.pending.borrow_mut().insert(token_id, pending);
    }

    pub fn take_pending(&self, token_id: u32) -> Option<ControlPending> {
        self.pending.borrow_mut().remove(&token_id)
    }

    /// Prints what the flow wanted logged (already throttled by the client).
    pub fn flush_logs(&self) {
        for line in self.state.borrow_mut().drain_logs() {
            warn!("{line}");
        }
    }
}
