//! The verification cache: successful verifications keyed by a SHA-256 of
//! the token (the token itself is never kept), bounded, and admitting a
//! token on its second successful verification, not its first. When every
//! request carries a new token (one-off tokens, or a flood of them), each
//! would be inserted, never hit, and later evicted: allocation, cold memory
//! and eviction work on every cache miss (6 to 11 µs of router CPU per
//! request under load on the benchmark machine), and the cache would push
//! out the tokens that are reused. A token a client sends again verifies
//! once more and is cached from then on.
//!
//! The doorkeeper is a fixed table of 64-bit fingerprints (8 bytes a slot,
//! as many slots as cache entries, rounded up to a power of two), indexed by
//! the cache key's first bytes: a key whose fingerprint is in its slot is
//! admitted, any other takes the slot. It only decides what gets cached —
//! what is cached is still a verified result — so the races of relaxed
//! atomics between threads can at worst skip or allow one insertion.

use std::sync::atomic::{AtomicU64, Ordering};

/// A cache key: the SHA-256 of the token.
pub(crate) type Key = [u8; 32];

/// The bounded cache with its admission rule; see the module docs.
pub(crate) struct VerificationCache<V> {
    entries: quick_cache::sync::Cache<Key, V>,
    doorkeeper: Doorkeeper,
}

impl<V: Clone> VerificationCache<V> {
    /// A cache of at most `max_entries` (at least one).
    pub(crate) fn new(max_entries: usize) -> Self {
        let max_entries = max_entries.max(1);
        Self {
            entries: quick_cache::sync::Cache::new(max_entries),
            doorkeeper: Doorkeeper::new(max_entries),
        }
    }

    /// The entry for `key`, if cached.
    pub(crate) fn get(&self, key: &Key) -> Option<V> {
        self.entries.get(key)
    }

    /// Drops the entry for `key` (stale or revoked).
    pub(crate) fn remove(&self, key: &Key) {
        self.entries.remove(key);
    }

    /// Caches a fresh verification if the doorkeeper admits its key (its
    /// second verification since the key's slot last changed hands).
    pub(crate) fn offer(&self, key: Key, value: V) {
        if self.doorkeeper.admit(&key) {
            self.entries.insert(key, value);
        }
    }

    /// How many entries are cached.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Remembers recently verified cache keys; see the module docs.
struct Doorkeeper {
    slots: Box<[AtomicU64]>,
    mask: usize,
}

impl Doorkeeper {
    /// A table sized for a cache of `entries` (at least 64 slots).
    fn new(entries: usize) -> Self {
        let size = entries.max(64).next_power_of_two();
        Self {
            slots: (0..size).map(|_| AtomicU64::new(0)).collect(),
            mask: size - 1,
        }
    }

    /// Whether `key` (a SHA-256, so uniformly distributed) was seen since
    /// its slot last changed hands: then it is admitted and the slot freed;
    /// otherwise it is remembered and not admitted.
    fn admit(&self, key: &Key) -> bool {
        let (index, fingerprint) = split(key);
        let slot = &self.slots[index & self.mask];
        if slot.load(Ordering::Relaxed) == fingerprint {
            slot.store(0, Ordering::Relaxed);
            true
        } else {
            slot.store(fingerprint, Ordering::Relaxed);
            false
        }
    }
}

/// The slot index and the fingerprint (never 0, the empty slot) of a key.
fn split(key: &Key) -> (usize, u64) {
    let mut index = [0u8; 8];
    index.copy_from_slice(&key[..8]);
    let mut fingerprint = [0u8; 8];
    fingerprint.copy_from_slice(&key[8..16]);
    (
        u64::from_le_bytes(index) as usize,
        u64::from_le_bytes(fingerprint) | 1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn key(token: &str) -> Key {
        Sha256::digest(token.as_bytes()).into()
    }

    #[test]
    fn a_key_is_admitted_on_its_second_sighting_only() {
        let doorkeeper = Doorkeeper::new(1000);
        let (a, b) = (key("a"), key("b"));
        assert!(!doorkeeper.admit(&a), "first sighting");
        assert!(!doorkeeper.admit(&b));
        assert!(doorkeeper.admit(&a), "second sighting");
        assert!(doorkeeper.admit(&b));
        // Admission frees the slot: a third verification (the cache entry
        // was evicted meanwhile) starts over.
        assert!(!doorkeeper.admit(&a));
    }

    #[test]
    fn the_cache_keeps_an_offer_from_the_second_on() {
        let cache = VerificationCache::new(10);
        let k = key("t");
        cache.offer(k, 1);
        assert_eq!(cache.get(&k), None, "first verification not cached");
        cache.offer(k, 2);
        assert_eq!(cache.get(&k), Some(2));
        cache.remove(&k);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn one_off_keys_are_never_admitted_and_the_table_stays_its_size() {
        let doorkeeper = Doorkeeper::new(100);
        assert_eq!(doorkeeper.slots.len(), 128);
        let admitted = (0..100_000)
            .filter(|i| doorkeeper.admit(&key(&format!("token-{i}"))))
            .count();
        assert_eq!(admitted, 0);
        assert_eq!(doorkeeper.slots.len(), 128);
        assert_eq!(Doorkeeper::new(0).slots.len(), 64);
    }

    #[test]
    fn a_key_displaced_from_its_slot_must_be_seen_twice_again() {
        let doorkeeper = Doorkeeper::new(64);
        let a = key("a");
        let (slot, _) = split(&a);
        // Another key for the same slot.
        let other = (0..)
            .map(|i| key(&format!("other-{i}")))
            .find(|k| split(k).0 & 63 == slot & 63 && *k != a)
            .unwrap();
        assert!(!doorkeeper.admit(&a));
        assert!(!doorkeeper.admit(&other));
        assert!(!doorkeeper.admit(&a), "displaced: remembered afresh");
        assert!(doorkeeper.admit(&a));
    }
}
