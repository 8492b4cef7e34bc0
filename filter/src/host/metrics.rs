//! Hands what [`Recorder`](crate::metrics::Recorder) gathered to Envoy, from the root's
//! tick: each stat defined once (its id kept), then one call per changed counter and per
//! latency sample. Requests themselves make no metric host call.

use std::collections::HashMap;

use log::warn;
use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

use super::state::State;
use crate::metrics::Kind;

/// Envoy's ids of the stats defined so far, by tagged name (one root per VM).
#[derive(Default)]
pub(super) struct MetricIds {
    ids: HashMap<String, u32>,
}

impl MetricIds {
    fn id(&mut self, kind: Kind, name: String) -> Option<u32> {
        if let Some(&id) = self.ids.get(&name) {
            return Some(id);
        }
        let metric_type = match kind {
            Kind::Counter => MetricType::Counter,
            Kind::Histogram => MetricType::Histogram,
        };
        match hostcalls::define_metric(metric_type, &name) {
            Ok(id) => {
                self.ids.insert(name, id);
                Some(id)
            }
            Err(status) => {
                warn!("cannot define the metric {name}: {status:?}");
                None
            }
        }
    }
}

/// Adds what requests and fetches recorded since the last tick to Envoy's stats.
pub(super) fn flush(state: &State, ids: &mut MetricIds) {
    let Some(recorder) = &state.metrics else {
        return;
    };
    // The borrow ends before the first host call.
    let emits = recorder.borrow_mut().drain();
    for emit in emits {
        let (kind, value) = (emit.kind, emit.value);
        let Some(id) = ids.id(kind, emit.name) else {
            continue;
        };
        let result = match kind {
            Kind::Counter => match i64::try_from(value) {
                Ok(delta) => hostcalls::increment_metric(id, delta),
                Err(_) => continue,
            },
            Kind::Histogram => hostcalls::record_metric(id, value),
        };
        if let Err(status) = result {
            warn!("cannot update metric {id}: {status:?}");
        }
    }
}
