//! Operation ids for Check and AllocateQuota, UUID-shaped (Google's service expects a UUID):
//! a random per-VM seed mixed with a counter. Taking an id costs two multiplications; it is
//! spelled out as text only when a call is actually made (a cached Check makes none).

use std::fmt;

/// One request's operation id (shared by its Check and AllocateQuota, as ESPv2 does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OperationId {
    high: u64,
    low: u64,
}

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            self.high >> 32,
            (self.high >> 16) & 0xffff,
            self.high & 0xffff,
            self.low >> 48,
            self.low & 0xffff_ffff_ffff
        )
    }
}

/// Hands out unique [`OperationId`]s.
#[derive(Debug, Clone)]
pub struct OperationIds {
    seed: u64,
    next: u64,
}

impl OperationIds {
    pub fn new(seed: u64) -> OperationIds {
        OperationIds { seed, next: 0 }
    }

    /// The seed, for the report batcher's own ids.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn next_id(&mut self) -> OperationId {
        self.next = self.next.wrapping_add(1);
        let high = mix(self.seed ^ self.next);
        let low = mix(high ^ self.next.rotate_left(32));
        // Version 4 and the RFC 4122 variant, like a random UUID.
        OperationId {
            high: (high & !0xf000) | 0x4000,
            low: (low & !(0b11 << 62)) | (0b10 << 62),
        }
    }
}

/// splitmix64's finaliser: spreads a counter over all bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_uuid_shaped_and_differ_between_vms() {
        let mut a = OperationIds::new(1);
        let mut b = OperationIds::new(2);
        let ids: Vec<String> = (0..1000).map(|_| a.next_id().to_string()).collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
        for id in &ids {
            let parts: Vec<&str> = id.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(parts[2].starts_with('4'), "{id}");
            assert!("89ab".contains(&parts[3][..1]), "{id}");
        }
        assert_ne!(OperationIds::new(1).next_id(), b.next_id());
    }
}
