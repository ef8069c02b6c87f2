//! Whether reports are of one distributed run: their [started_at, ended_at] intervals must
//! overlap, pair by pair, for at least [`MIN_OVERLAP`] of the shorter run of the pair.
//!
//! Why half of the shorter run. The workers of one run start at one instant (`cicada run
//! --worker`) or within the seconds a scheduler takes to start their pods (independent runs, one
//! per pod); they may end early (a worker lost mid-run keeps its data to its last second). Either
//! way a worker's interval lies mostly inside the others'. Two runs taken minutes apart do not,
//! and merging them gives a run as long as both plus the gap: its rates are divided by that span
//! (such a merge used to print "22.3 req/s over 209.0 s" without a word), its timeline holds a
//! hole. Half of the
//! shorter run is where the span's error on the rates reaches a third (two equal runs of length
//! L offset by L/2 span 1.5 L): well past any start skew of one run, and the pair is refused
//! before the figures mean something else. Shorter runs are judged by their own length, so a
//! worker that stopped early still belongs to the run it started with.

use chrono::{DateTime, Utc};

use super::{Input, MergeError};

/// The least share of the shorter run of a pair that the two runs must share.
pub const MIN_OVERLAP: f64 = 0.5;

/// When one report ran, by its own `started_at` and `ended_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ran {
    pub(super) start: DateTime<Utc>,
    pub(super) end: DateTime<Utc>,
}

impl Ran {
    fn seconds(self) -> f64 {
        seconds(self.end - self.start)
    }
}

fn seconds(d: chrono::TimeDelta) -> f64 {
    d.num_milliseconds() as f64 / 1e3
}

/// Two reports that are not one run, with the times that show it.
#[derive(Debug, Clone, PartialEq)]
pub struct NotOneRun {
    pub first: String,
    pub first_ran: String,
    pub second: String,
    pub second_ran: String,
    /// Seconds the two runs share (negative: the gap between them).
    pub overlap_s: f64,
    /// The shorter run's length, seconds.
    pub shorter_s: f64,
}

impl NotOneRun {
    /// "a.json ran 10:00:00–10:01:00, b.json 10:05:00–10:06:00 (UTC), 240.0 s apart".
    pub fn describe(&self) -> String {
        let how = if self.overlap_s < 0.0 {
            format!("{:.1} s apart", -self.overlap_s)
        } else {
            format!(
                "sharing {:.1} s, less than half of the shorter run ({:.1} s)",
                self.overlap_s, self.shorter_s
            )
        };
        format!(
            "{} ran {}, {} {} (UTC), {how}",
            self.first, self.first_ran, self.second, self.second_ran
        )
    }
}

impl std::fmt::Display for NotOneRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// The time each report ran, checked: RFC 3339 times, the end not before the start.
pub(super) fn times(inputs: &[Input]) -> Result<Vec<Ran>, MergeError> {
    inputs
        .iter()
        .map(|input| {
            let run = &input.report.run;
            let start = super::run::parse_time(input, "started_at", &run.started_at)?;
            let end = super::run::parse_time(input, "ended_at", &run.ended_at)?;
            if end < start {
                return Err(MergeError::EndsBeforeStart {
                    path: input.source.clone(),
                    started_at: run.started_at.clone(),
                    ended_at: run.ended_at.clone(),
                });
            }
            Ok(Ran {
                start: start.to_utc(),
                end: end.to_utc(),
            })
        })
        .collect()
}

/// The pair of reports that overlap least, measured against the shorter run of the pair, when it
/// is under [`MIN_OVERLAP`] (or the runs do not meet at all); `None` when every pair is one run.
pub(super) fn worst_pair(inputs: &[Input], ran: &[Ran]) -> Option<NotOneRun> {
    let mut worst: Option<(f64, usize, usize, f64, f64)> = None;
    for i in 0..ran.len() {
        for j in i + 1..ran.len() {
            let (a, b) = (ran[i], ran[j]);
            let overlap = seconds(a.end.min(b.end) - a.start.max(b.start));
            let shorter = a.seconds().min(b.seconds());
            let refused = overlap < 0.0 || overlap < MIN_OVERLAP * shorter;
            // How far from one run the pair is: the share of the shorter run shared.
            let share = if shorter > 0.0 {
                overlap / shorter
            } else {
                overlap
            };
            if refused && worst.is_none_or(|w| share < w.0) {
                worst = Some((share, i, j, overlap, shorter));
            }
        }
    }
    let (_, i, j, overlap_s, shorter_s) = worst?;
    let all_one_day = ran.iter().all(|r| {
        r.start.date_naive() == ran[i].start.date_naive()
            && r.end.date_naive() == r.start.date_naive()
    });
    let show = |r: Ran| {
        let f = if all_one_day {
            "%H:%M:%S"
        } else {
            "%Y-%m-%d %H:%M:%S"
        };
        format!("{}–{}", r.start.format(f), r.end.format(f))
    };
    Some(NotOneRun {
        first: inputs[i].source.clone(),
        first_ran: show(ran[i]),
        second: inputs[j].source.clone(),
        second_ran: show(ran[j]),
        overlap_s,
        shorter_s,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::input;
    use super::*;

    fn check(inputs: &[Input]) -> Option<NotOneRun> {
        worst_pair(inputs, &times(inputs).unwrap())
    }

    #[test]
    fn runs_minutes_apart_are_not_one_run() {
        let inputs = [
            input("a.json", "2026-12-04T10:00:00Z", "2026-12-04T10:01:00Z"),
            input("b.json", "2026-12-04T10:05:00.000Z", "2026-12-04T10:06:00Z"),
        ];
        let bad = check(&inputs).unwrap();
        assert_eq!(
            bad.describe(),
            "a.json ran 10:00:00–10:01:00, b.json 10:05:00–10:06:00 (UTC), 240.0 s apart"
        );
    }

    #[test]
    fn half_of_the_shorter_run_is_the_limit() {
        let a = input("a", "2026-12-04T10:00:00Z", "2026-12-04T10:01:00Z");
        // 30 s of a 60 s run shared: one run, just.
        let b = input("b", "2026-12-04T10:00:30Z", "2026-12-04T10:01:30Z");
        assert_eq!(check(&[a.clone(), b]), None);
        let c = input("c", "2026-12-04T10:00:31Z", "2026-12-04T10:01:31Z");
        let bad = check(&[a.clone(), c]).unwrap();
        assert_eq!((bad.overlap_s, bad.shorter_s), (29.0, 60.0));
        assert!(
            bad.describe()
                .ends_with("sharing 29.0 s, less than half of the shorter run (60.0 s)")
        );
        // A worker lost 5 s into the run is inside it: judged by its own length.
        let lost = input("lost", "2026-12-04T10:00:00.200Z", "2026-12-04T10:00:05Z");
        assert_eq!(check(&[a.clone(), lost]), None);
        // Runs that only touch share nothing of a 60 s run.
        let after = input("after", "2026-12-04T10:01:00Z", "2026-12-04T10:02:00Z");
        assert!(check(&[a.clone(), after]).is_some());
        // A run of no length inside the other is in it; outside, it is not.
        let point = input("p", "2026-12-04T10:00:10Z", "2026-12-04T10:00:10Z");
        assert_eq!(check(&[a.clone(), point]), None);
        let outside = input("o", "2026-12-04T11:00:10Z", "2026-12-04T11:00:10Z");
        assert!(check(&[a, outside]).is_some());
    }

    #[test]
    fn the_pair_named_is_the_farthest_apart_and_dates_show_across_days() {
        let inputs = [
            input("a", "2026-12-04T23:59:00Z", "2026-12-05T00:00:30Z"),
            input("b", "2026-12-04T23:59:01Z", "2026-12-05T00:00:31Z"),
            input("c", "2026-12-05T00:10:00Z", "2026-12-05T00:11:00Z"),
        ];
        let bad = check(&inputs).unwrap();
        assert_eq!((bad.first.as_str(), bad.second.as_str()), ("a", "c"));
        assert_eq!(bad.first_ran, "2026-12-04 23:59:00–2026-12-05 00:00:30");
        // Offsets are read and shown in UTC.
        let inputs = [
            input(
                "x",
                "2026-12-04T11:00:00+01:00",
                "2026-12-04T11:01:00+01:00",
            ),
            input("y", "2026-12-04T10:00:10Z", "2026-12-04T10:01:10Z"),
        ];
        assert_eq!(check(&inputs), None);
    }

    #[test]
    fn an_end_before_the_start_is_refused() {
        let inputs = [input("a", "2026-12-04T10:01:00Z", "2026-12-04T10:00:00Z")];
        let err = times(&inputs).unwrap_err();
        assert!(matches!(err, MergeError::EndsBeforeStart { .. }), "{err}");
        assert!(err.to_string().starts_with("a: "), "{err}");
    }
}
