//! Hands what [`Recorder`](crate::metrics::Recorder) gathered to Envoy, from the root's
//! tick: each counter defined once (its id kept by series), then one call per changed
//! counter. Requests themselves make no metric host call.

use log::warn;
use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

use super::state::State;

/// How often counts go to Envoy: Prometheus scrapes every 15 s or so, and each flush costs
/// a host call per changed counter, so fewer flushes carry more requests each.
const FLUSH_EVERY_MS: u64 = 1_000;

/// Envoy's ids of the counters defined so far, by series (one root per VM).
#[derive(Default)]
pub(super) struct MetricIds {
    ids: Vec<Option<u32>>,
    flushed_at_ms: u64,
}

/// Adds what requests and fetches recorded since the last flush to Envoy's counters, at
/// most every [`FLUSH_EVERY_MS`].
pub(super) fn flush(state: &State, ids: &mut MetricIds, now_ms: u64) {
    let Some(recorder) = &state.metrics else {
        return;
    };
    if now_ms.saturating_sub(ids.flushed_at_ms) < FLUSH_EVERY_MS {
        return;
    }
    ids.flushed_at_ms = now_ms;
    // The borrow ends before the first host call.
    let drained = recorder.borrow_mut().drain();
    for (series, name) in drained.new {
        if ids.ids.len() <= series {
            ids.ids.resize(series.saturating_add(1), None);
        }
        // Defining a counter makes it exist at 0.
        let id = hostcalls::define_metric(MetricType::Counter, &name)
            .map_err(|status| warn!("cannot define the metric {name}: {status:?}"))
            .ok();
        if let Some(slot) = ids.ids.get_mut(series) {
            *slot = id;
        }
    }
    for (series, value) in drained.increments {
        let (Some(Some(id)), Ok(delta @ 1..)) = (ids.ids.get(series), i64::try_from(value)) else {
            continue;
        };
        if let Err(status) = hostcalls::increment_metric(*id, delta) {
            warn!("cannot update metric {id}: {status:?}");
        }
    }
}
