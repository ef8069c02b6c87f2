//! Process CPU time and resident memory, read from `/proc/self` (Linux; zero elsewhere).

/// Linux reports `/proc/self/stat` times in USER_HZ ticks, fixed at 100 by the kernel ABI.
const TICKS_PER_SECOND: f64 = 100.0;

/// User + system CPU seconds consumed by this process.
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // `rest` starts at field 3 (state), so field N is at index N - 3.
    #[allow(clippy::cast_precision_loss)]
    let total = (ticks(14 - 3) + ticks(15 - 3)) as f64;
    total / TICKS_PER_SECOND
}

/// Resident set size in bytes.
pub fn resident_memory_bytes() -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        if cfg!(target_os = "linux") {
            assert!(resident_memory_bytes() > 0);
            // Burn a little CPU so the counter is non-zero at 10 ms resolution.
            let mut x = 0u64;
            for i in 0..50_000_000u64 {
                x = x.wrapping_add(i * i);
            }
            assert!(x > 0);
            assert!(cpu_seconds() > 0.0);
        }
    }
}
