//! The analysis of a running test, so far: every [`ANALYSIS_EVERY`] a background task reads the
//! session monitor's samples (the generator's and the target's CPU and RSS, scraped metrics),
//! ranks the findings on them and on the partial report, and keeps the result. Snapshots (the
//! page, `/api/snapshot`, the stream, a partial report downloaded during the run) carry the
//! latest one, so the cost is one analysis every few seconds however many pages watch.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cicada::runner::RunControl;
use cicada_report::RunReport;
use cicada_report::analysis_model::Analysis;
use cicada_session::analysis::LiveAnalysis;
use tokio::task::JoinHandle;

/// How often the analysis of a running test is redone.
pub const ANALYSIS_EVERY: Duration = Duration::from_secs(3);

/// The latest analysis of a running test, and the task that renews it.
#[derive(Debug)]
pub struct SoFar {
    latest: Arc<Mutex<Option<Analysis>>>,
    task: JoinHandle<()>,
}

impl SoFar {
    /// Start renewing the analysis of the run `control` steers, first after a second, then
    /// every [`ANALYSIS_EVERY`], until the run stops or its monitor does.
    pub fn start(control: RunControl, live: LiveAnalysis) -> Self {
        let latest = Arc::new(Mutex::new(None));
        let task = tokio::spawn(renew(control, live, Arc::clone(&latest)));
        Self { latest, task }
    }

    /// Put the latest analysis into `report` (a snapshot of the same run), with the
    /// generator-health warning as the final report has it.
    pub fn attach(&self, report: &mut RunReport) {
        let latest = self
            .latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(analysis) = latest else { return };
        if let Some(h) = &analysis.generator_health
            && !h.healthy
            && !report.verdict.warnings.contains(&h.verdict)
        {
            report.verdict.warnings.push(h.verdict.clone());
        }
        report.analysis = Some(analysis);
    }
}

impl Drop for SoFar {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn renew(control: RunControl, live: LiveAnalysis, latest: Arc<Mutex<Option<Analysis>>>) {
    let mut wait = Duration::from_secs(1);
    loop {
        tokio::time::sleep(wait).await;
        wait = ANALYSIS_EVERY;
        if control.is_stopping() {
            return;
        }
        let mut report = control.snapshot();
        if !live.attach(&mut report).await {
            return;
        }
        *latest.lock().unwrap_or_else(|p| p.into_inner()) = report.analysis;
    }
}
