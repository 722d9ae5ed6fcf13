//! Memory flat in simulated duration: the basic rack (`scenarios/rack/basic.toml`, 24
//! servers, 144 VMs, a row every 10 s) run for 1 day and for 100 days through the same
//! path as `capsim run` (`output::write::run_to_dir`: time series, meter readings
//! and events streamed to disk). Each duration runs in a child process (this binary re-executed with
//! `CAPSIM_BENCH_MEM_CHILD=<days>`) so its peak RSS (`VmHWM`) is its own.
//! Target: the 100-day peak within 10 % of the 1-day peak.
//!
//! Run: `cargo bench --bench memory` (about a minute). `CAPSIM_BENCH_MEM_DAYS` overrides
//! the long duration (default 100). The last line is one JSON object.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

mod support;
use support::peak_rss_mib;

/// In the child: run the basic rack for `days` into a temporary directory; print
/// `wall_s rss_mib rows`.
fn child(days: u32) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("scenarios/rack/basic.toml")).unwrap();
    let text = text.replace("duration = \"2h\"", &format!("duration = \"{days}d\""));
    assert!(
        text.contains(&format!("{days}d")),
        "basic.toml's duration line changed"
    );
    let lib = capsim::scenario::Library::new(vec![]);
    let sc = capsim::scenario::load_str("basic.toml", &text, &root.join("scenarios/rack"), &lib)
        .unwrap();
    let dir = std::env::temp_dir().join(format!("capsim-bench-memory-{}", std::process::id()));
    let t = Instant::now();
    let (r, _) =
        capsim::output::write::run_to_dir(&sc, &dir, capsim::output::dir::Existing::Refuse)
            .unwrap();
    let wall = t.elapsed().as_secs_f64();
    // Counted in 64 KiB chunks, so the count itself does not hold the file.
    let rows = {
        use std::io::Read;
        let mut f = std::fs::File::open(dir.join("timeseries.csv")).unwrap();
        let (mut buf, mut n) = (vec![0u8; 1 << 16], 0usize);
        loop {
            let k = f.read(&mut buf).unwrap();
            if k == 0 {
                break n - 1;
            }
            n += buf[..k].iter().filter(|&&b| b == b'\n').count();
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    std::hint::black_box(&r);
    println!("{wall} {} {rows}", peak_rss_mib());
}

fn measure(days: u32) -> (f64, f64, usize) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .env("CAPSIM_BENCH_MEM_CHILD", days.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<&str> = text.split_whitespace().collect();
    (
        v[0].parse().unwrap(),
        v[1].parse().unwrap(),
        v[2].parse().unwrap(),
    )
}

fn main() {
    if let Ok(d) = std::env::var("CAPSIM_BENCH_MEM_CHILD") {
        child(d.parse().unwrap());
        return;
    }
    let long: u32 = std::env::var("CAPSIM_BENCH_MEM_DAYS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let (w1, m1, r1) = measure(1);
    println!("basic rack, 1 day: {w1:.2} s, {r1} rows, peak RSS {m1:.1} MiB");
    let (wl, ml, rl) = measure(long);
    println!("basic rack, {long} days: {wl:.2} s, {rl} rows, peak RSS {ml:.1} MiB");
    let ratio = ml / m1;
    println!("peak RSS ratio {long} days / 1 day: {ratio:.3} (target <= 1.10)");
    println!(
        "{{\"bench\":\"memory\",\"days\":[1,{long}],\"rows\":[{r1},{rl}],\"wall_s\":[{w1},{wl}],\"peak_rss_mib\":[{m1},{ml}],\"ratio\":{ratio},\"meets_target\":{}}}",
        ratio <= 1.10
    );
}
