//! The OpenAPI 3 document of the control API, generated from the handlers' annotations.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{api, controller, form, live};

/// The document served at `/api/openapi.json`.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "cicada control API",
        description = "Start, steer, watch and download a cicada load test. When the server is bound to a non-loopback address every route needs its token: `Authorization: Bearer TOKEN`, or HTTP Basic with the token as the password."
    ),
    paths(
        api::info,
        api::start,
        api::stop,
        api::users,
        api::rate,
        api::reset,
        api::snapshot,
        api::stream,
        api::report,
        api::openapi,
    ),
    components(schemas(
        controller::RunState,
        form::StartRequest,
        form::ScenarioInfo,
        form::UserTypeChoice,
        live::LiveSnapshot,
        live::ThresholdNow,
        live::RequestNow,
        live::LiveHtml,
        live::AnalysisNow,
        live::StatusCodesNow,
        live::StatusNow,
        live::FindingNow,
        crate::resources::ResourcesNow,
        api::InfoResponse,
        api::StateResponse,
        api::UsersRequest,
        api::RateRequest,
        api::ErrorBody,
    )),
    modifiers(&TokenSchemes),
    security(("bearer" = []), ("basic" = [])),
    tags(
        (name = "control", description = "Start, stop, users, rate, reset"),
        (name = "live", description = "Snapshots, the stream, reports"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

/// The token schemes (required only off loopback).
#[derive(Debug)]
pub struct TokenSchemes;

impl Modify for TokenSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
    }
}
