//! The OpenAPI 3 document, generated from the handlers' annotations and the models' schemas.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::{auth, ops, studio};
use crate::model;

/// The API description served at `/api/v1/openapi.json`.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "DRYAD agent-studio API", description = "Agent executions, history and metrics."),
    paths(
        auth::login,
        studio::execute,
        studio::get_execution,
        studio::list_executions,
        studio::agent_metrics,
        ops::health,
        ops::ready,
        ops::metrics,
        ops::openapi,
    ),
    components(schemas(
        model::Status,
        model::Execution,
        model::LoginRequest,
        model::TokenResponse,
        model::ExecuteRequest,
        model::ExecuteResponse,
        model::ExecutionPage,
        model::StatusCounts,
        model::AgentMetrics,
        model::ErrorBody,
        model::HealthResponse,
    )),
    modifiers(&BearerScheme),
    tags(
        (name = "auth", description = "Login"),
        (name = "agent-studio", description = "Executions (bearer token required)"),
        (name = "ops", description = "Health, readiness, metrics, this document"),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` (JWT) security scheme the agent-studio routes reference.
#[derive(Debug)]
pub struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
