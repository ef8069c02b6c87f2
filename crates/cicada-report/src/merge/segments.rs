//! Whether the merged workers' execution segments (`run.segment`, `--execution-segment`) make
//! up the whole run: they should tile `0:1`, each part exactly once. A gap means load that no
//! merged report holds; an overlap, load counted twice.
//!
//! ```
//! use cicada_report::merge::segments::coverage;
//! let whole = coverage(&[Some("0:1/3"), Some("2/3:1"), Some("1/3:2/3")]);
//! assert!(whole.warnings.is_empty());
//! assert_eq!(whole.merged, None);
//! assert_eq!(whole.summary.as_deref(), Some("0:1/3 + 1/3:2/3 + 2/3:1 = the whole run (0:1)"));
//! let gap = coverage(&[Some("0:1/3"), Some("2/3:1")]);
//! assert!(gap.warnings[0].contains("1/3:2/3"));
//! ```

/// What the segments of the merged reports add up to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    /// One line for the merge info, e.g. `"0:1/2 + 1/2:1 = the whole run (0:1)"`; `None`
    /// when no report ran a segment.
    pub summary: Option<String>,
    /// The merged report's own segment: `None` for the whole run, else the span
    /// `FROM:TO` when the parts are contiguous without overlap (a part of a larger split).
    pub merged: Option<String>,
    /// Gaps, overlaps and unreadable segments.
    pub warnings: Vec<String>,
}

/// A rational `num/den`, reduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ratio(u128, u128);

impl Ratio {
    fn parse(s: &str) -> Option<Self> {
        let (n, d) = match s.trim().split_once('/') {
            Some((n, d)) => (n.trim().parse().ok()?, d.trim().parse().ok()?),
            None => (s.trim().parse().ok()?, 1),
        };
        if d == 0 || n > d {
            return None;
        }
        let g = gcd(n, d);
        Some(Self(n / g, d / g))
    }

    fn cmp(self, o: Self) -> std::cmp::Ordering {
        (self.0 * o.1).cmp(&(o.0 * self.1))
    }
}

impl std::fmt::Display for Ratio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ratio(0, _) => f.write_str("0"),
            Ratio(n, 1) => write!(f, "{n}"),
            Ratio(n, d) => write!(f, "{n}/{d}"),
        }
    }
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

fn parse(text: &str) -> Option<(Ratio, Ratio)> {
    let (a, b) = text.split_once(':')?;
    let (a, b) = (Ratio::parse(a)?, Ratio::parse(b)?);
    (a.cmp(b) == std::cmp::Ordering::Less).then_some((a, b))
}

/// The coverage of the reports' segments, in the order given (`None`: a whole run).
pub fn coverage(segments: &[Option<&str>]) -> Coverage {
    use std::cmp::Ordering::{Equal, Greater, Less};
    if segments.iter().all(Option::is_none) {
        return Coverage::default();
    }
    let mut warnings = Vec::new();
    let zero = Ratio(0, 1);
    let one = Ratio(1, 1);
    let mut parts = Vec::new();
    for s in segments {
        match s {
            None => parts.push((zero, one)),
            Some(text) => match parse(text) {
                Some(p) => parts.push(p),
                None => warnings.push(format!(
                    "a report's execution segment {text:?} cannot be read; the coverage of the \
                     run is unknown"
                )),
            },
        }
    }
    if !warnings.is_empty() {
        return Coverage {
            summary: None,
            merged: None,
            warnings,
        };
    }
    parts.sort_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(b.1)));
    let text: Vec<String> = parts.iter().map(|(a, b)| format!("{a}:{b}")).collect();
    let mut reach = parts[0].0;
    let mut contiguous = true;
    for (i, &(from, to)) in parts.iter().enumerate() {
        if i > 0 {
            match from.cmp(reach) {
                Greater => {
                    contiguous = false;
                    warnings.push(format!(
                        "the merged execution segments leave a gap: {reach}:{from} of the run is \
                         in no report (a worker missing?)"
                    ));
                }
                Less => {
                    contiguous = false;
                    let end = if to.cmp(reach) == Less { to } else { reach };
                    warnings.push(format!(
                        "the merged execution segments overlap: {from}:{end} of the run is in \
                         more than one report (its load is counted twice)"
                    ));
                }
                Equal => {}
            }
        }
        if to.cmp(reach) == Greater {
            reach = to;
        }
    }
    let (first, last) = (parts[0].0, reach);
    let whole = contiguous && first == zero && last == one;
    let summary = if whole {
        format!("{} = the whole run (0:1)", text.join(" + "))
    } else if contiguous {
        format!("{} = {first}:{last} of the run", text.join(" + "))
    } else {
        text.join(" + ")
    };
    if contiguous && !whole {
        let mut missing = Vec::new();
        if first != zero {
            missing.push(format!("0:{first}"));
        }
        if last != one {
            missing.push(format!("{last}:1"));
        }
        warnings.push(format!(
            "the merged execution segments cover {first}:{last} of the run, not all of it \
             ({} missing)",
            missing.join(", ")
        ));
    }
    Coverage {
        summary: Some(summary),
        merged: (contiguous && !whole).then(|| format!("{first}:{last}")),
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilings_gaps_and_overlaps() {
        assert_eq!(coverage(&[None, None]), Coverage::default());
        let halves = coverage(&[Some("1/2:1"), Some("0:2/4")]);
        assert!(halves.warnings.is_empty(), "{halves:?}");
        assert_eq!(halves.merged, None);
        let overlap = coverage(&[Some("0:2/3"), Some("1/3:1")]);
        assert_eq!(overlap.warnings.len(), 1);
        assert!(overlap.warnings[0].contains("1/3:2/3"), "{overlap:?}");
        assert_eq!(overlap.merged, None);
        let part = coverage(&[Some("0:1/4"), Some("1/4:1/2")]);
        assert_eq!(part.merged.as_deref(), Some("0:1/2"));
        assert!(part.warnings[0].contains("1/2:1 missing"), "{part:?}");
        // A whole run merged with a segment: everything of the segment twice.
        let twice = coverage(&[None, Some("0:1/2")]);
        assert!(twice.warnings[0].contains("overlap: 0:1/2"), "{twice:?}");
        let bad = coverage(&[Some("x"), Some("0:1")]);
        assert!(bad.warnings[0].contains("cannot be read"));
    }
}
