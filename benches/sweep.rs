//! `cargo bench --bench sweep`: throughput of a 40-run sweep on 2 threads against 1
//! thread, in the same process (target speed-up ≥ 1.7×). Each run is a short rack
//! scenario; results go to a scratch directory. JSON on the last line.

use capsim::sweep::{expand, run_sweep, SweepOptions};
use std::fs;
use std::time::Instant;

fn main() {
    let d = std::env::temp_dir().join(format!("capsim-bench-sweep-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    fs::write(
        d.join("base.toml"),
        r#"
name = "bench"
seed = 1
duration = "10min"
[output]
interval = "10s"
[policy]
kind = "group-dvfs"
[[pdus]]
name = "rack"
voltage = "230V"
rating = "16A"
breaker = "iec60898-c"
cap = "1500W"
[[servers]]
name = "h"
count = 10
model = "i7-920-xen34"
pdu = "rack"
[[vms]]
name = "vm"
count = 40
host = "h"
memory = "512MiB"
demand = { kind = "steps", steps = [["0s", "30%"], ["120s", "100%"], ["420s", "40%"]] }
"#,
    )
    .unwrap();
    // 4 policies × 5 control periods × 2 replicates = 40 runs (every kind takes `period`).
    fs::write(
        d.join("sweep.toml"),
        r#"
base = "base.toml"
replicates = 2
[[grid]]
path = "policy.kind"
values = ["none", "dvfs", "group-dvfs", "idle"]
[[grid]]
path = "policy.period"
values = ["1s", "2s", "3s", "4s", "5s"]
"#,
    )
    .unwrap();
    let sweep = expand(&d.join("sweep.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sweep.runs.len(), 40);
    let time = |threads: usize| -> f64 {
        let out = d.join(format!("out-{threads}"));
        let _ = fs::remove_dir_all(&out);
        let opts = SweepOptions {
            out,
            resume: false,
            models: vec![],
            progress: capsim::sweep::Progress::Off,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let t = Instant::now();
        let failed = pool
            .install(|| run_sweep(&sweep, &sweep, &opts))
            .unwrap()
            .failed;
        assert_eq!(failed, 0);
        t.elapsed().as_secs_f64()
    };
    // Warm-up (page cache, allocator), then alternate and keep the medians.
    time(2);
    let (mut one, mut two) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        one.push(time(1));
        two.push(time(2));
    }
    one.sort_by(f64::total_cmp);
    two.sort_by(f64::total_cmp);
    let (t1, t2) = (one[1], two[1]);
    let same =
        fs::read(d.join("out-1/runs.csv")).unwrap() == fs::read(d.join("out-2/runs.csv")).unwrap();
    println!("40 runs: 1 thread {t1:.3} s, 2 threads {t2:.3} s (medians of 3), speed-up {:.2}x (target >= 1.7x); runs.csv identical: {same}", t1 / t2);
    let json = serde_json::json!({
        "bench": "sweep",
        "runs": 40,
        "one_thread_s": t1,
        "two_threads_s": t2,
        "speedup": t1 / t2,
        "target_speedup": 1.7,
        "meets_target": t1 / t2 >= 1.7,
        "runs_csv_identical": same,
    });
    let _ = fs::remove_dir_all(&d);
    println!("{json}");
}
