//! One virtual user's state: its variables, random number generator, client and shard.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::http::UserClient;
use crate::scenario::compile::Program;
use crate::scenario::model::{FeederMode, GeneratorKind};
use crate::segment::Stripe;
use crate::stats::Shard;

/// Seed of user number `index` in a run seeded with `seed`.
pub fn user_seed(seed: u64, index: u64) -> u64 {
    seed ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Who a virtual user is in the whole run, whichever generator runs it ([`crate::segment`]):
/// its random choices and its per-user feeder row follow from this and the run's seed alone,
/// so they differ between users, yet a user is the same on any worker of a split run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VuIdentity {
    /// The whole run's index of the user (closed model: its slot, `0..users`; open model: its
    /// place in the pool, `0..max_concurrency`).
    pub user: u64,
    /// How many users were spawned into that slot before this one (0 unless the target
    /// went down and up again).
    pub spawn: u64,
}

impl VuIdentity {
    /// The user's seed: [`user_seed`] for the first user of a slot, a different one for each
    /// later user of the same slot.
    pub fn seed(self, seed: u64) -> u64 {
        let first = user_seed(seed, self.user);
        if self.spawn == 0 {
            return first;
        }
        // splitmix64's finaliser of the spawn number, so that later users differ widely.
        let mut z = self.spawn.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 31)).wrapping_mul(0x94D0_49BB_1331_11EB);
        first ^ z ^ (z >> 29)
    }
}

/// A virtual user.
#[derive(Debug)]
pub struct Vu {
    pub user_type: usize,
    pub vars: Vec<Option<String>>,
    pub rng: SmallRng,
    pub client: UserClient,
    pub shard: Arc<Shard>,
    /// Reusable buffers for rendering.
    pub buf: String,
    pub scratch: String,
    /// Whether `on_start` has run and succeeded.
    pub started: bool,
    /// The last response of a request whose task has flow steps that read it.
    pub last: Option<LastResponse>,
}

/// A response kept for conditions and `foreach` (only for tasks whose flow steps read one).
#[derive(Debug)]
pub struct LastResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Option<bytes::Bytes>,
    /// The body parsed as JSON, on first use.
    pub json: std::sync::OnceLock<Option<serde_json::Value>>,
}

impl LastResponse {
    /// Keep what the client read of its last response (headers that are not valid HTTP
    /// header names or values cannot be looked up by name and are left out).
    pub fn of(view: &crate::http::ResponseView<'_>) -> Self {
        let mut headers = http::HeaderMap::new();
        for (name, value) in view.headers() {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_bytes(value),
            ) {
                headers.append(name, value);
            }
        }
        Self {
            status: view.status(),
            headers,
            body: view.body().map(bytes::Bytes::copy_from_slice),
            json: std::sync::OnceLock::new(),
        }
    }

    /// The body as JSON (`None` when it is not JSON or was not read).
    pub fn json(&self) -> Option<&serde_json::Value> {
        self.json
            .get_or_init(|| {
                self.body
                    .as_deref()
                    .and_then(|b| serde_json::from_slice(b).ok())
            })
            .as_ref()
    }
}

impl Vu {
    pub(crate) fn new(
        shared: &super::Shared,
        identity: VuIdentity,
        user_type: usize,
        client: UserClient,
        shard: Arc<Shard>,
    ) -> Self {
        let program: &Program = &shared.program;
        let mut vars = vec![None; program.vars.len()];
        for (id, value) in &program.constants {
            vars[*id] = Some(value.clone());
        }
        let mut vu = Self {
            user_type,
            vars,
            rng: SmallRng::seed_from_u64(identity.seed(shared.seed)),
            client,
            shard,
            buf: String::with_capacity(256),
            scratch: String::new(),
            started: false,
            last: None,
        };
        // Per-user feeders: one row per user, round-robin by the whole run's user index.
        for f in &program.feeders {
            if f.mode == FeederMode::PerUser {
                let i = (identity.user % f.rows.len() as u64) as usize;
                vu.set_row(f.columns.as_slice(), &f.rows[i]);
            }
        }
        vu
    }

    fn set_row(&mut self, columns: &[usize], row: &[String]) {
        for (col, value) in columns.iter().zip(row) {
            self.vars[*col] = Some(value.clone());
        }
    }

    /// Draw generators and per-iteration feeder rows (at the start of each task iteration).
    /// Shared sequences and round-robin feeders take the whole run's values in `segment`:
    /// this generator's `j`-th take is the run's `segment.global_index(j)`-th.
    pub fn draw(&mut self, program: &Program, segment: &Stripe) {
        for g in &program.generators {
            let value = match &g.kind {
                GeneratorKind::Uuid => {
                    let bytes: [u8; 16] = self.rng.random();
                    uuid::Builder::from_random_bytes(bytes)
                        .into_uuid()
                        .to_string()
                }
                GeneratorKind::RandomInt { min, max } => {
                    self.rng.random_range(*min..=*max).to_string()
                }
                GeneratorKind::RandomChoice(values) => {
                    values[self.rng.random_range(0..values.len())].clone()
                }
                GeneratorKind::Sequence { start, step } => {
                    let j = g.taken.fetch_add(1, Ordering::Relaxed);
                    let k = segment.global_index(j) as i64;
                    start.wrapping_add(step.wrapping_mul(k)).to_string()
                }
            };
            self.vars[g.var] = Some(value);
        }
        for f in &program.feeders {
            let i = match f.mode {
                FeederMode::PerUser => continue,
                FeederMode::Shared => {
                    let j = f.cursor.fetch_add(1, Ordering::Relaxed);
                    (segment.global_index(j) % f.rows.len() as u64) as usize
                }
                FeederMode::Random => self.rng.random_range(0..f.rows.len()),
            };
            for (col, value) in f.columns.iter().zip(&f.rows[i]) {
                self.vars[*col] = Some(value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_have_distinct_reproducible_seeds() {
        let mut seen = std::collections::HashSet::new();
        for user in 0..200u64 {
            assert_eq!(
                VuIdentity { user, spawn: 0 }.seed(7),
                user_seed(7, user),
                "a first user keeps the seed it always had"
            );
            for spawn in 0..5u64 {
                let id = VuIdentity { user, spawn };
                assert_eq!(id.seed(7), id.seed(7));
                assert!(seen.insert(id.seed(7)), "{id:?}");
            }
        }
    }
}
