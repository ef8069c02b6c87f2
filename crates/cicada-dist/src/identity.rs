//! What a worker and its coordinator must share: the cicada version, the scenario (a hash of
//! the file's bytes) and, off loopback, a token (compared in constant time).

use subtle::ConstantTimeEq;

/// This cicada's version (a worker of another version is refused).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The hash a worker's scenario must match: FNV-1a (64 bits) of the scenario file's bytes and
/// their length, in hex. The plan's options (users, rate, run time, host, tags, thresholds,
/// seed) are not hashed: the coordinator sends its own to every worker, so a worker's flags
/// cannot disagree with them. Files the scenario reads (feeders) are not hashed either.
pub fn scenario_hash(bytes: &[u8]) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for b in bytes
        .iter()
        .copied()
        .chain((bytes.len() as u64).to_le_bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    format!("fnv1a64:{h:016x}")
}

/// Whether `given` is `expected`, in time independent of where they differ.
pub fn token_matches(expected: &str, given: Option<&str>) -> bool {
    given.is_some_and(|g| bool::from(expected.as_bytes().ct_eq(g.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_changed_byte_changes_the_hash_and_tokens_compare_exactly() {
        let a = scenario_hash(b"name = \"x\"\n");
        assert_eq!(a, scenario_hash(b"name = \"x\"\n"));
        assert_ne!(a, scenario_hash(b"name = \"y\"\n"));
        assert_ne!(scenario_hash(b""), scenario_hash(b"\0"));
        assert!(token_matches("s3cret", Some("s3cret")));
        assert!(!token_matches("s3cret", Some("s3cret ")));
        assert!(!token_matches("s3cret", Some("")));
        assert!(!token_matches("s3cret", None));
    }
}
