//! Command-line arguments of `slow-server`, validated once.

use std::net::SocketAddr;
use std::time::Duration;

/// Where to listen and how long each answer takes.
#[derive(Debug, Clone, Copy)]
pub struct Args {
    pub addr: SocketAddr,
    pub delay: Duration,
}

impl Args {
    /// Parse `--addr HOST:PORT` (loopback only) and `--delay-ms N`.
    pub fn parse(mut it: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut args = Args {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            delay: Duration::from_millis(10),
        };
        while let Some(flag) = it.next() {
            let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--addr" => {
                    let raw = value()?;
                    args.addr = raw
                        .parse()
                        .map_err(|_| format!("--addr: expected HOST:PORT, got {raw:?}"))?;
                    if !args.addr.ip().is_loopback() {
                        return Err(format!("--addr: only loopback addresses, got {raw:?}"));
                    }
                }
                "--delay-ms" => {
                    let raw = value()?;
                    let ms: f64 = raw
                        .parse()
                        .ok()
                        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                        .ok_or_else(|| format!("--delay-ms: expected a number ≥ 0, got {raw:?}"))?;
                    args.delay = Duration::from_secs_f64(ms / 1000.0);
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(args)
    }
}
