//! Seeded random streams, one per component.
//!
//! A stream's seed is a hash of (scenario seed, replicate, component name), so adding a
//! component never shifts another component's draws, and the thread that runs a
//! simulation cannot change its numbers.

use rand::SeedableRng;

/// The generator of every stream but the high-volume ones: ChaCha12 from `rand_chacha`,
/// named rather than taken as `rand::rngs::StdRng` (the same algorithm in rand 0.9),
/// because rand does not promise `StdRng`'s algorithm across versions and a dependency
/// update must not change a run's bytes.
pub type StableRng = rand_chacha::ChaCha12Rng;

/// The generator of high-volume streams (a VM's page writes, which draw a random word
/// per few pages written): xoshiro256++ from `rand_xoshiro`, a documented algorithm whose
/// output for a given seed does not depend on the machine or on the `rand` version
/// (unlike `StdRng` and `SmallRng`), seeded from the 64-bit stream seed by SplitMix64.
pub type FastRng = rand_xoshiro::Xoshiro256PlusPlus;

/// SplitMix64 finaliser: a bijective 64-bit mixer with good avalanche.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a over the component name: stable across platforms and Rust versions
/// (unlike `std::hash`).
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The 64-bit seed of the stream for `component` in run (`seed`, `replicate`).
pub fn stream_seed(seed: u64, replicate: u32, component: &str) -> u64 {
    mix(mix(mix(seed) ^ replicate as u64) ^ fnv1a(component))
}

/// The random stream for `component` in run (`seed`, `replicate`).
pub fn stream(seed: u64, replicate: u32, component: &str) -> StableRng {
    StableRng::seed_from_u64(stream_seed(seed, replicate, component))
}

/// The [`FastRng`] stream for `component` in run (`seed`, `replicate`): same seed
/// derivation as [`stream`], a faster generator.
pub fn fast_stream(seed: u64, replicate: u32, component: &str) -> FastRng {
    FastRng::seed_from_u64(stream_seed(seed, replicate, component))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_are_independent_of_each_other_and_reproducible() {
        let a1: u64 = stream(7, 0, "breaker/rack1").random();
        let a2: u64 = stream(7, 0, "breaker/rack1").random();
        let b: u64 = stream(7, 0, "breaker/rack2").random();
        let c: u64 = stream(7, 1, "breaker/rack1").random();
        let d: u64 = stream(8, 0, "breaker/rack1").random();
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        assert_ne!(a1, c);
        assert_ne!(a1, d);
    }

    #[test]
    fn fast_streams_are_reproducible_and_version_stable() {
        let a: u64 = fast_stream(7, 0, "vm/a/memory").random();
        assert_eq!(a, fast_stream(7, 0, "vm/a/memory").random::<u64>());
        assert_ne!(a, fast_stream(7, 0, "vm/b/memory").random::<u64>());
        assert_ne!(a, fast_stream(7, 1, "vm/a/memory").random::<u64>());
        // xoshiro256++ seeded by SplitMix64 is fixed by its published definition: the
        // first outputs for seed 0 never change with the machine or the crate version.
        let mut r = FastRng::seed_from_u64(0);
        assert_eq!(
            [r.random::<u64>(), r.random::<u64>()],
            [0x53175d61490b23df, 0x61da6f3dc380d507]
        );
    }

    #[test]
    fn stable_streams_keep_their_algorithm() {
        // ChaCha12 seeded through rand_core's `seed_from_u64` (PCG32 expansion): the
        // first outputs for seed 0, recorded from rand_chacha 0.9.0 (equal to rand 0.9's
        // StdRng then). A change here means every run's random draws changed.
        let mut r = StableRng::seed_from_u64(0);
        assert_eq!(
            [r.random::<u64>(), r.random::<u64>()],
            [0xbb2a_3fb2_cd2c_6f7f, 0xc601_7c94_8e27_697b]
        );
    }
}
