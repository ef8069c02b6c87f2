//! `--local-ips`: the local addresses a run's connections are opened from. One source address
//! has about 28,000 ephemeral ports to one destination (Linux's default
//! `net.ipv4.ip_local_port_range`), so a run of more users than that needs several: on
//! loopback every `127.x.y.z` is local, e.g. `127.0.0.1-127.0.0.4`.

use std::net::{IpAddr, Ipv4Addr};

/// Most addresses one `--local-ips` value may expand to.
const MAX_ADDRS: usize = 4096;

/// Why a `--local-ips` value is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --local-ips {value:?}: {reason}")]
pub struct LocalAddrsError {
    pub value: String,
    pub reason: String,
}

/// Parse a comma-separated list of addresses and IPv4 ranges (`127.0.0.1-127.0.0.8`), in
/// order, without duplicates.
pub fn parse_local_addrs(value: &str) -> Result<Vec<IpAddr>, LocalAddrsError> {
    let fail = |reason: String| LocalAddrsError {
        value: value.to_string(),
        reason,
    };
    let mut out: Vec<IpAddr> = Vec::new();
    for item in value.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(fail("an empty entry".to_string()));
        }
        match item.split_once('-') {
            None => {
                let ip: IpAddr = item
                    .parse()
                    .map_err(|_| fail(format!("{item:?} is not an IP address")))?;
                out.push(ip);
            }
            Some((lo, hi)) => {
                let parse = |s: &str| {
                    s.trim().parse::<Ipv4Addr>().map_err(|_| {
                        fail(format!("{s:?} is not an IPv4 address (ranges are IPv4)"))
                    })
                };
                let (lo, hi) = (u32::from(parse(lo)?), u32::from(parse(hi)?));
                if lo > hi {
                    return Err(fail(format!("range {item:?} runs backwards")));
                }
                if (hi - lo) as usize >= MAX_ADDRS {
                    return Err(fail(format!(
                        "range {item:?} has more than {MAX_ADDRS} addresses"
                    )));
                }
                out.extend((lo..=hi).map(|n| IpAddr::V4(Ipv4Addr::from(n))));
            }
        }
        if out.len() > MAX_ADDRS {
            return Err(fail(format!("more than {MAX_ADDRS} addresses")));
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|ip| seen.insert(*ip));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_ranges() {
        let ips = parse_local_addrs("127.0.0.1-127.0.0.3, ::1,127.0.0.2").unwrap();
        let text: Vec<String> = ips.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["127.0.0.1", "127.0.0.2", "127.0.0.3", "::1"]);
        assert_eq!(parse_local_addrs("10.0.0.255-10.0.1.1").unwrap().len(), 3);
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        for (value, reason) in [
            ("", "an empty entry"),
            ("127.0.0.1,", "an empty entry"),
            ("localhost", "not an IP address"),
            ("127.0.0.9-127.0.0.1", "runs backwards"),
            ("::1-::2", "ranges are IPv4"),
            ("10.0.0.0-10.1.0.0", "more than 4096"),
        ] {
            let e = parse_local_addrs(value).unwrap_err();
            assert!(e.to_string().contains(reason), "{value}: {e}");
        }
    }
}
