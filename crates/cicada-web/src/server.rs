//! Binding the server (loopback without a token; any other address only with one), the
//! router, and serving until the user quits: Ctrl-C, or `--autoquit` after a run ends.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api;
use crate::auth::{self, Auth};
use crate::controller::{Controller, RunState};
use crate::form::StartRequest;
use crate::page;

/// Environment variable read when `--web-auth-token` is not given.
pub const TOKEN_ENV: &str = "CICADA_WEB_AUTH_TOKEN";

/// How the server is bound and when it starts and quits (`cicada run --web ...`).
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// `--web-host`: an IP address, or `localhost`.
    pub host: String,
    /// `--web-port`; 0 picks a free port.
    pub port: u16,
    /// `--web-auth-token` (or [`TOKEN_ENV`]); required off loopback.
    pub auth_token: Option<String>,
    /// `--autostart`: start a run at once with the command line's settings.
    pub autostart: bool,
    /// `--autoquit`: quit this long after a run ends (unless a new one started meanwhile).
    pub autoquit: Option<Duration>,
}

impl Default for WebOptions {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8089,
            auth_token: None,
            autostart: false,
            autoquit: None,
        }
    }
}

impl WebOptions {
    /// `--web-auth-token`, else the environment's token (an empty one counts as none).
    pub fn token_from_env(&mut self) {
        if self.auth_token.is_none() {
            self.auth_token = std::env::var(TOKEN_ENV).ok();
        }
        if self
            .auth_token
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            self.auth_token = None;
        }
    }
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("--web-host {0:?} is not an IP address (or localhost)")]
    BadHost(String),
    #[error(
        "--web-host {0} is not a loopback address: anyone who can reach it could start load from this machine; give a token with --web-auth-token or {TOKEN_ENV} (or bind 127.0.0.1)"
    )]
    TokenRequired(IpAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("--autostart: {0}")]
    Autostart(crate::controller::ControlError),
}

/// Parse the host, refuse a non-loopback address without a token, and bind.
pub async fn bind(options: &WebOptions) -> Result<(TcpListener, Auth), WebError> {
    let ip: IpAddr = if options.host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        options
            .host
            .trim_matches(|c| c == '[' || c == ']')
            .parse()
            .map_err(|_| WebError::BadHost(options.host.clone()))?
    };
    let auth = match options.auth_token.as_deref() {
        Some(token) if !token.is_empty() => Auth::token(token),
        _ if ip.is_loopback() => Auth::open(),
        _ => return Err(WebError::TokenRequired(ip)),
    };
    let addr = SocketAddr::new(ip, options.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| WebError::Bind { addr, source })?;
    Ok((listener, auth))
}

/// The router: the page at `/`, the API under `/api/`, every route behind `auth`.
pub fn app(controller: Controller, auth: Auth) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/api/info", get(api::info))
        .route("/api/start", post(api::start))
        .route("/api/stop", post(api::stop))
        .route("/api/users", post(api::users))
        .route("/api/rate", post(api::rate))
        .route("/api/reset", post(api::reset))
        .route("/api/snapshot", get(api::snapshot))
        .route("/api/stream", get(api::stream))
        .route("/api/report/{format}", get(api::report))
        .route("/api/openapi.json", get(api::openapi))
        .with_state(controller)
        .layer(axum::middleware::from_fn_with_state(auth, auth::require))
}

/// How serving ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quit {
    /// `--autoquit` after the last run ended.
    Autoquit,
    /// Ctrl-C / SIGTERM (or the `shutdown` future); `interrupted_run` when it stopped a run.
    Signal { interrupted_run: bool },
}

/// Serve `controller` on `listener` until `shutdown` resolves (a running run is stopped
/// gracefully first, its reports written) or `--autoquit` applies.
pub async fn serve(
    listener: TcpListener,
    auth: Auth,
    controller: Controller,
    options: &WebOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<Quit, WebError> {
    let quit = CancellationToken::new();
    let app = app(controller.clone(), auth).layer(axum::Extension(quit.clone()));
    let server_quit = quit.clone();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(server_quit.cancelled_owned())
            .await;
    });
    if options.autostart
        && let Err(e) = controller.start(&StartRequest::default()).await
    {
        quit.cancel();
        let _ = server.await;
        return Err(WebError::Autostart(e));
    }
    let ended = tokio::select! {
        _ = shutdown => Quit::Signal {
            interrupted_run: controller.interrupt_and_wait().await,
        },
        _ = autoquit(&controller, options.autoquit) => Quit::Autoquit,
    };
    quit.cancel();
    // Open event streams end within a tick; do not wait longer than that for slow clients.
    let _ = tokio::time::timeout(api::STREAM_EVERY * 3, server).await;
    Ok(ended)
}

/// Resolves `after` a run has ended with no new run started meanwhile; never without `after`.
async fn autoquit(controller: &Controller, after: Option<Duration>) {
    let Some(after) = after else {
        return std::future::pending().await;
    };
    let mut changes = controller.subscribe();
    loop {
        let (state, run) = *changes.borrow_and_update();
        if state == RunState::Stopped {
            tokio::select! {
                _ = tokio::time::sleep(after) => {
                    if *changes.borrow() == (RunState::Stopped, run) {
                        return;
                    }
                }
                _ = changes.changed() => {}
            }
            continue;
        }
        if changes.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}
