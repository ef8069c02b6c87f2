//! One virtual user's state: its variables, random number generator, client and shard.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::http::UserClient;
use crate::scenario::compile::Program;
use crate::scenario::model::{FeederMode, GeneratorKind};
use crate::stats::Shard;

/// Seed of user number `index` in a run seeded with `seed`.
pub fn user_seed(seed: u64, index: u64) -> u64 {
    seed ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
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
    pub fn new(
        program: &Program,
        index: u64,
        user_type: usize,
        seed: u64,
        client: UserClient,
        shard: Arc<Shard>,
    ) -> Self {
        let mut vars = vec![None; program.vars.len()];
        for (id, value) in &program.constants {
            vars[*id] = Some(value.clone());
        }
        let mut vu = Self {
            user_type,
            vars,
            rng: SmallRng::seed_from_u64(user_seed(seed, index)),
            client,
            shard,
            buf: String::with_capacity(256),
            scratch: String::new(),
            started: false,
            last: None,
        };
        // Per-user feeders: one row per user, round-robin by start order.
        for f in &program.feeders {
            if f.mode == FeederMode::PerUser {
                let i = f.cursor.fetch_add(1, Ordering::Relaxed) % f.rows.len();
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
    pub fn draw(&mut self, program: &Program) {
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
                GeneratorKind::Sequence { step, .. } => {
                    g.next.fetch_add(*step, Ordering::Relaxed).to_string()
                }
            };
            self.vars[g.var] = Some(value);
        }
        for f in &program.feeders {
            let i = match f.mode {
                FeederMode::PerUser => continue,
                FeederMode::Shared => f.cursor.fetch_add(1, Ordering::Relaxed) % f.rows.len(),
                FeederMode::Random => self.rng.random_range(0..f.rows.len()),
            };
            for (col, value) in f.columns.iter().zip(&f.rows[i]) {
                self.vars[*col] = Some(value.clone());
            }
        }
    }
}
