//! Figures of this process from Linux's `/proc`: peak resident memory and
//! CPU time, for the harnesses' reports.

use anyhow::{Context, Result};

/// The CPU time (user and system) of every thread this process has run,
/// in seconds, from `/proc/self/stat` (in units of `USER_HZ`, which Linux
/// fixes at 100 for user space).
pub fn cpu_time() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces): utime and
    // stime are the 12th and 13th.
    let rest = stat
        .rsplit_once(')')
        .context("no ')' in /proc/self/stat")?
        .1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64> {
        Ok(fields
            .get(i)
            .context("short /proc/self/stat")?
            .parse::<u64>()? as f64)
    };
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// Resets the process's peak resident memory to its current one.
pub fn reset_peak_rss() {
    // Linux: writing 5 to clear_refs resets VmHWM.
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!("could not reset the peak RSS ({e}); it includes the load");
    }
}

/// The process's peak resident memory (`VmHWM`), in bytes.
pub fn peak_rss() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .context("no VmHWM in /proc/self/status")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kb * 1024)
}
