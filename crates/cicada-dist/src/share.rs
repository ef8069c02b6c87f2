//! Each worker's part of the whole run's load.
//!
//! The engine runs a [`Stripe`] of the whole run when [`ENGINE_SPLITS`] is true (`RunConfig.segment`:
//! users numbered across the run, exact spawn instants, iteration bounds and feeders shared):
//! the worker then gets the whole run's plan and `set_users(total)` keeps its share. Until the
//! engine does, a worker runs a plain per-worker share of the plan: `Stripe::share` of every
//! user count and iteration bound (so the parts add up exactly), the rate and spawn rate times
//! the segment's width.

use cicada::plan::{LoadPlan, PlanModel, Stage};
use cicada::segment::Stripe;

/// Whether the engine honours `RunConfig.segment` and `RunConfig.start_at` itself.
pub const ENGINE_SPLITS: bool = true;

/// The plan this worker's engine is given.
pub fn plan_for(whole: &LoadPlan, stripe: &Stripe) -> LoadPlan {
    if ENGINE_SPLITS || stripe.is_full() {
        return whole.clone();
    }
    let w = stripe.width();
    let level = |v: f64| match whole.model {
        PlanModel::Closed => stripe.share(v.round().max(0.0) as u64) as f64,
        PlanModel::Open { .. } => v * w,
    };
    LoadPlan {
        model: match whole.model {
            PlanModel::Closed => PlanModel::Closed,
            PlanModel::Open { max_concurrency } => PlanModel::Open {
                max_concurrency: stripe.share(max_concurrency).max(1),
            },
        },
        initial: level(whole.initial),
        stages: whole
            .stages
            .iter()
            .map(|s| Stage {
                duration: s.duration,
                target: level(s.target),
            })
            .collect(),
        run_time: whole.run_time,
        iterations: whole.iterations.map(|n| stripe.share(n)),
        spawn_rate: whole.spawn_rate.map(|r| r * w),
        default_bound: whole.default_bound,
    }
}

/// The users this worker holds when the whole run is set to `total`.
pub fn users_for(total: u64, stripe: &Stripe) -> u64 {
    if ENGINE_SPLITS {
        total
    } else {
        stripe.share(total)
    }
}

/// The rate this worker runs when the whole run's is set to `total`.
pub fn rate_for(total: f64, stripe: &Stripe) -> f64 {
    if ENGINE_SPLITS {
        total
    } else {
        total * stripe.width()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_parts_of_a_closed_plan_add_up_to_the_whole() {
        let whole = LoadPlan {
            model: PlanModel::Closed,
            initial: 0.0,
            stages: vec![Stage {
                duration: Duration::from_secs(2),
                target: 10.0,
            }],
            run_time: Some(Duration::from_secs(5)),
            iterations: Some(100),
            spawn_rate: Some(5.0),
            default_bound: false,
        };
        let parts: Vec<LoadPlan> = (0..3)
            .map(|i| plan_for(&whole, &Stripe::nth(i, 3).unwrap()))
            .collect();
        if ENGINE_SPLITS {
            assert!(parts.iter().all(|p| *p == whole));
            return;
        }
        let users: f64 = parts.iter().map(|p| p.stages[0].target).sum();
        let iterations: u64 = parts.iter().map(|p| p.iterations.unwrap()).sum();
        assert_eq!((users, iterations), (10.0, 100));
        let totals: u64 = (0..3)
            .map(|i| users_for(7, &Stripe::nth(i, 3).unwrap()))
            .sum();
        assert_eq!(totals, 7);
    }
}
