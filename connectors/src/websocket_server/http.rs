//! The listener's HTTP side: the WebSocket endpoint, which checks the token and the connection
//! limit before it upgrades (refusing with 401 or 503), and static files for the app's page.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequestParts, Query, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::auth::{AuthConfig, Identity};
use super::connection;
use super::hub::Hub;

/// What the HTTP handlers share.
#[derive(Debug)]
pub(crate) struct Http {
    pub(crate) hub: Arc<Hub>,
    pub(crate) auth: Option<AuthConfig>,
    pub(crate) static_dir: Option<PathBuf>,
    pub(crate) max_frame_bytes: usize,
}

/// The routes: the WebSocket endpoint at `path`, static files everywhere else.
pub(crate) fn router(http: Arc<Http>, path: &str) -> Router {
    Router::new().route(path, get(upgrade)).fallback(get(static_file)).with_state(http)
}

async fn upgrade(
    State(http): State<Arc<Http>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Query(query): Query<Vec<(String, String)>>,
    request: Request,
) -> Response {
    let (mut parts, _body) = request.into_parts();
    let identity = match &http.auth {
        None => Identity::default(),
        Some(auth) => match auth.check(&parts.headers, &query) {
            Ok(identity) => identity,
            Err(error) => {
                http.hub.metrics().refused("unauthorized").inc();
                tracing::debug!(%remote, %error, "websocket client refused");
                let challenge = [(header::WWW_AUTHENTICATE, "Bearer realm=\"runnel\"")];
                return (StatusCode::UNAUTHORIZED, challenge, format!("{error}\n")).into_response();
            }
        },
    };
    let Some(slot) = http.hub.reserve() else {
        http.hub.metrics().refused("max_connections").inc();
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections\n").into_response();
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    // Without a token subject, the `user` query parameter names the client (unverified).
    let user = identity.subject.or_else(|| query.iter().find(|(k, _)| k == "user").map(|(_, v)| v.clone()));
    let user = user.filter(|u| !u.is_empty()).map(Arc::from);
    let subscriptions: Vec<String> = query.into_iter().filter(|(k, _)| k == "subscribe").map(|(_, v)| v).collect();
    let hub = http.hub.clone();
    upgrade
        .max_frame_size(http.max_frame_bytes)
        .max_message_size(http.max_frame_bytes)
        .on_upgrade(move |socket| connection::serve(hub, socket, user, subscriptions, remote, slot))
}

async fn static_file(State(http): State<Arc<Http>>, uri: Uri) -> Response {
    let not_found = (StatusCode::NOT_FOUND, "not found\n").into_response();
    let Some(dir) = &http.static_dir else { return not_found };
    let Some(relative) = safe_relative(uri.path()) else { return not_found };
    let Some(file) = inside(dir, &relative).await else {
        tracing::debug!(path = %uri.path(), "static file refused: missing, or a link out of static_dir");
        return not_found;
    };
    match tokio::fs::read(file).await {
        Ok(body) => {
            let headers = [(header::CONTENT_TYPE, content_type(&relative)), (header::CACHE_CONTROL, "no-cache")];
            (StatusCode::OK, headers, body).into_response()
        }
        Err(_) => not_found,
    }
}

/// The file a URL path names inside the static folder: `index.html` for folders; `None` for
/// anything that could leave the folder or reach hidden files.
pub(crate) fn safe_relative(path: &str) -> Option<String> {
    let path = path.trim_start_matches('/');
    let path = if path.is_empty() || path.ends_with('/') { format!("{path}index.html") } else { path.to_owned() };
    let safe = path.split('/').all(|segment| !segment.is_empty() && !segment.starts_with('.')) && !path.contains('\\');
    safe.then_some(path)
}

/// The file `relative` names under `dir`, every link resolved, if it is still a visible file
/// inside `dir`: a symbolic link may point elsewhere in the folder, never out of it (nor to a
/// hidden file). The folder itself may be a link.
pub(crate) async fn inside(dir: &Path, relative: &str) -> Option<PathBuf> {
    let root = tokio::fs::canonicalize(dir).await.ok()?;
    let file = tokio::fs::canonicalize(root.join(relative)).await.ok()?;
    let within = file.strip_prefix(&root).ok()?;
    let visible = within.components().all(|c| !c.as_os_str().to_string_lossy().starts_with('.'));
    visible.then_some(file)
}

fn content_type(path: &str) -> &'static str {
    match Path::new(path).extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}
