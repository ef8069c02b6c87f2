//! The OpenAPI 3 document, generated from the handlers' annotations and the models' schemas.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response};
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
    modifiers(&BearerScheme, &CommonResponses),
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

/// Adds the answers every route can give, whatever its handler does: 431 (the request head is
/// over [`crate::api::limits`]) and 500 (a bug; the body stays generic), both in the JSON error
/// shape.
#[derive(Debug)]
pub struct CommonResponses;

/// The statuses [`CommonResponses`] adds, with their descriptions.
pub const COMMON_RESPONSES: [(&str, &str); 2] = [
    (
        "431",
        "Request head over the limits: more than 100 header fields or more than 32 KiB of them",
    ),
    ("500", "Internal error (generic body; the cause is logged)"),
];

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                add_common(operation);
            }
        }
    }
}

fn add_common(operation: &mut Operation) {
    for (status, description) in COMMON_RESPONSES {
        let body = Content::new(Some(Ref::from_schema_name("ErrorBody")));
        let response = Response::builder()
            .description(description)
            .content("application/json", body)
            .build();
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert(RefOr::T(response));
    }
}
