//! Event-queue throughput: the classic "hold" model.
//!
//! Each queue is filled with `PENDING` events at random times, then `OPS` hold
//! operations are timed: pop the earliest event and push a new one at
//! `popped_time + increment`, increments uniform in `[1, 2·MEAN]`. The same seeded
//! increments drive capsim's `EventQueue<Event>` and a bare
//! `BinaryHeap<Reverse<(u64, u64)>>` (time, FIFO sequence) — the fair baseline.
//!
//! Repetitions alternate between the two after a warm-up; the median of each is
//! reported. The last line of output is one JSON object.
//!
//! Run: `cargo bench --bench engine`. Environment overrides: `CAPSIM_BENCH_OPS`,
//! `CAPSIM_BENCH_PENDING`, `CAPSIM_BENCH_REPS`.

use capsim::engine::rng::StableRng;
use capsim::engine::{EventQueue, SimTime};
use capsim::model::ids::{DeviceId, MeterId, VmId};
use capsim::sim::event::Event;
use rand::{Rng, SeedableRng};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::Instant;

const SEED: u64 = 0x00ca_951b;
/// Mean increment, in ns (so initial times span about `PENDING` times this).
const MEAN: u64 = 1_000_000;
const TARGET_RATIO: f64 = 1.5;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The shared workload: initial times and the hold increments.
struct Workload {
    initial: Vec<u64>,
    increments: Vec<u64>,
}

impl Workload {
    fn new(pending: usize, ops: usize) -> Self {
        let mut rng = StableRng::seed_from_u64(SEED);
        let span = MEAN * pending as u64;
        let initial = (0..pending).map(|_| rng.random_range(0..span)).collect();
        let increments = (0..ops).map(|_| rng.random_range(1..=2 * MEAN)).collect();
        Workload {
            initial,
            increments,
        }
    }
}

/// A payload as varied as a real run's, from a counter.
#[inline(always)]
fn payload(i: u32) -> Event {
    match i & 3 {
        0 => Event::MeterSample(MeterId(i)),
        1 => Event::VmComplete {
            vm: VmId(i),
            gen: i >> 2,
        },
        2 => Event::Trip {
            device: DeviceId(i),
            gen: i >> 2,
        },
        _ => Event::DemandChange(VmId(i)),
    }
}

/// Fills capsim's queue (untimed), then returns (ns for the holds, checksum).
fn run_capsim(w: &Workload) -> (u128, u64) {
    let mut q: EventQueue<Event> = EventQueue::with_capacity(w.initial.len() + 1);
    for (i, &t) in w.initial.iter().enumerate() {
        q.schedule(SimTime(t), payload(i as u32)).unwrap();
    }
    let mut sum = 0u64;
    let mut n = w.initial.len() as u32;
    let start = Instant::now();
    for &inc in black_box(&w.increments[..]) {
        let (t, ev) = q.pop().unwrap();
        let ev = black_box(ev);
        if let Event::MeterSample(x) = ev {
            sum = sum.wrapping_add(x.0 as u64);
        }
        q.schedule(t.plus(inc), payload(n)).unwrap();
        n = n.wrapping_add(1);
    }
    let ns = start.elapsed().as_nanos();
    (ns, sum ^ q.now().as_nanos() ^ black_box(q.len()) as u64)
}

/// Same workload through a bare heap of `Reverse((time, seq))`.
fn run_baseline(w: &Workload) -> (u128, u64) {
    let mut h: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::with_capacity(w.initial.len() + 1);
    let mut seq = 0u64;
    for &t in &w.initial {
        h.push(Reverse((t, seq)));
        seq += 1;
    }
    let mut sum = 0u64;
    let mut now = 0u64;
    let start = Instant::now();
    for &inc in black_box(&w.increments[..]) {
        let Reverse((t, s)) = h.pop().unwrap();
        let s = black_box(s);
        sum = sum.wrapping_add(s & 1);
        now = t;
        h.push(Reverse((t.saturating_add(inc), seq)));
        seq += 1;
    }
    let ns = start.elapsed().as_nanos();
    (ns, sum ^ now ^ black_box(h.len()) as u64)
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn main() {
    let pending = env_or("CAPSIM_BENCH_PENDING", 100_000);
    let ops = env_or("CAPSIM_BENCH_OPS", 2_000_000);
    let reps = env_or("CAPSIM_BENCH_REPS", 5).max(1);
    let w = Workload::new(pending, ops);

    println!(
        "engine hold benchmark: {pending} pending, {ops} holds (pop + push), {reps} reps, \
         Event = {} bytes",
        std::mem::size_of::<Event>()
    );

    // Warm-up: one untimed round of each (page-faults, caches, CPU frequency).
    black_box(run_capsim(&w));
    black_box(run_baseline(&w));

    let mut capsim = Vec::with_capacity(reps);
    let mut base = Vec::with_capacity(reps);
    let mut paired = Vec::with_capacity(reps);
    for r in 0..reps {
        // Alternate which goes first so drift in machine load hits both alike.
        let (c, b) = if r % 2 == 0 {
            let c = run_capsim(&w);
            (c, run_baseline(&w))
        } else {
            let b = run_baseline(&w);
            (run_capsim(&w), b)
        };
        black_box((c.1, b.1));
        let c_ns = c.0 as f64 / ops as f64;
        let b_ns = b.0 as f64 / ops as f64;
        println!(
            "  rep {}: capsim {:7.2} ns/hold   baseline {:7.2} ns/hold   ratio {:.3}",
            r + 1,
            c_ns,
            b_ns,
            c_ns / b_ns
        );
        capsim.push(c_ns);
        paired.push(c_ns / b_ns);
        base.push(b_ns);
    }

    let c_med = median(&mut capsim);
    let b_med = median(&mut base);
    let ratio = c_med / b_med;
    // Median of the per-repetition ratios: each pair ran back to back, so this one is
    // the less sensitive to load drifting between repetitions.
    let paired_ratio = median(&mut paired);
    let meets = ratio <= TARGET_RATIO;
    println!(
        "median: capsim {c_med:.2} ns/hold, baseline {b_med:.2} ns/hold, ratio {ratio:.3} \
         (target <= {TARGET_RATIO}) {}; median paired ratio {paired_ratio:.3}",
        if meets { "OK" } else { "MISSED" }
    );
    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    let json = serde_json::json!({
        "bench": "engine",
        "pending": pending,
        "ops": ops,
        "reps": reps,
        "capsim_ns_per_event": round2(c_med),
        "baseline_ns_per_event": round2(b_med),
        "ratio": (ratio * 1000.0).round() / 1000.0,
        "paired_ratio_median": (paired_ratio * 1000.0).round() / 1000.0,
        "target_ratio": TARGET_RATIO,
        "meets_target": meets,
    });
    println!("{json}");
}
