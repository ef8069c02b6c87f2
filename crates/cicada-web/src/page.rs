//! The page at `/`: one self-contained file (the report's stylesheet, the page's own CSS and
//! script inline; nothing fetched but the API), so it works offline and behind any proxy. It
//! never contains the token: a browser sends it as HTTP Basic credentials it asked for.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;

const TEMPLATE: &str = include_str!("page/index.html");
const CSS: &str = include_str!("page/page.css");
const SCRIPT: &str = include_str!("page/page.js");

static PAGE: LazyLock<String> = LazyLock::new(|| {
    TEMPLATE
        .replace("/*REPORT_CSS*/", cicada_render::html::STYLESHEET)
        .replace("/*PAGE_CSS*/", CSS)
        .replace("/*PAGE_JS*/", SCRIPT)
});

/// `GET /`.
pub async fn index() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE.as_str(),
    )
}
