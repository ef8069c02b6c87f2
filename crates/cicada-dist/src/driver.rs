//! The coordinator as the web server's [`Driver`]: `cicada run --master --web` starts, steers
//! and stops runs on the workers from the page and the API, unchanged.

use std::sync::Arc;

use cicada::runner::RunConfig;
use cicada_session::StartError;
use cicada_web::driver::{BoxFuture, RunEnd, Started};
use cicada_web::{Driver, Steer};

use crate::coordinator::Coordinator;
use crate::coordinator::run::StartFailure;

impl Driver for Coordinator {
    fn start(&self, config: RunConfig) -> BoxFuture<'_, Result<Started, StartError>> {
        Box::pin(async move {
            let run = Coordinator::start(self, config)
                .await
                .map_err(|e| match e {
                    StartFailure::Unreachable(u) => StartError::Unreachable(u),
                    StartFailure::Dist(d) => StartError::Analysis(d.to_string()),
                })?;
            let steer: Arc<dyn Steer> = Arc::new(run.clone());
            let end: BoxFuture<'static, RunEnd> = Box::pin(async move { Ok(run.finish().await) });
            Ok(Started { steer, end })
        })
    }
}
