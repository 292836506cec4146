//! CPU time of this process from `/proc/self/stat`, for the benchmark
//! examples (`assess-default`, `assess-worst`).

use std::time::Duration;

/// Clock ticks per second of `/proc/*/stat` (USER_HZ, 100 on every Linux
/// architecture this agent ships for; `sysconf` would need `unsafe`).
const TICKS_PER_SEC: f64 = 100.0;

/// CPU time of this process so far: its own threads (finished ones
/// included) and the children it has waited for.
pub struct CpuTime {
    /// utime + stime.
    pub own: Duration,
    /// cutime + cstime.
    // Each example compiles this module on its own; assess-worst starts no
    // child and reads only `own`.
    #[allow(dead_code)]
    pub children: Duration,
}

/// Reads [`CpuTime`] now.
pub fn cpu_time() -> Result<CpuTime, String> {
    let stat = std::fs::read_to_string("/proc/self/stat")
        .map_err(|e| format!("cannot read /proc/self/stat: {e}"))?;
    // The command name may hold spaces: fields are counted after its `)`.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("unexpected /proc/self/stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64, String> {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| "unexpected /proc/self/stat".to_owned())
    };
    // Fields 14-17 (utime, stime, cutime, cstime); `rest` starts at field 3.
    Ok(CpuTime {
        own: Duration::from_secs_f64((ticks(11)? + ticks(12)?) / TICKS_PER_SEC),
        children: Duration::from_secs_f64((ticks(13)? + ticks(14)?) / TICKS_PER_SEC),
    })
}
