//! The dashboard's files, embedded in the binary at build time: the page works on a LAN with
//! no internet, no CDN and no build step. Each response says its type and lets the browser keep
//! the files briefly (they change only with the binary).

use std::sync::Arc;

use axum::Router as Routes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::context::Context;

/// (path, content type, body)
pub const FILES: &[(&str, &str, &str)] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("assets/index.html"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_str!("assets/style.css"),
    ),
    (
        "/manifest.webmanifest",
        "application/manifest+json",
        include_str!("assets/manifest.webmanifest"),
    ),
    (
        "/icon.svg",
        "image/svg+xml",
        include_str!("assets/icon.svg"),
    ),
];

const OPENAPI: &str = include_str!("assets/openapi.json");

fn file(path: &'static str) -> impl IntoResponse + Clone {
    let (content_type, body) = FILES
        .iter()
        .find(|(p, _, _)| *p == path)
        .map_or(("text/plain", ""), |(_, t, b)| (*t, *b));
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

pub fn routes() -> Routes<Arc<Context>> {
    let mut routes = Routes::new();
    for (path, _, _) in FILES {
        let response = file(path);
        routes = routes.route(path, get(move || async move { response }));
    }
    routes
}

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}
