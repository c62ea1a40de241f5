//! `fetch(url, {method, headers, body, timeout})` (also `xhr.fetch`, PubNub's name): the only
//! way out of the sandbox. A request goes through reqwest on the engine's thread; the block caps
//! the fetches of one invocation ([`FetchRules::max_fetches`]) and may list the hosts it may
//! reach, redirects included. A fetch ends at its `timeout` (milliseconds) or at the
//! invocation's deadline, whichever comes first, and its body may not exceed the runtime's
//! memory limit. The Response object is made in JavaScript (`fetch.js`).

use std::rc::Rc;
use std::time::Duration;

use reqwest::{Method, Url};
use rquickjs::prelude::{Async, Opt};
use rquickjs::{Array, Ctx, Function, Object, Value};

use super::{Host, error, type_error};

/// The JavaScript half: `Headers`, `Response`, and `fetch` over the native request.
const FETCH_JS: &str = include_str!("fetch.js");

/// Redirects followed at most, as browsers do.
const MAX_REDIRECTS: usize = 10;

/// What a block's handlers may fetch.
#[derive(Clone, Debug)]
pub(crate) struct FetchRules {
    /// Fetches one invocation may start; past them a fetch rejects.
    pub(crate) max_fetches: usize,
    /// The hosts a fetch may reach; empty: any.
    pub(crate) hosts: Vec<AllowedHost>,
    /// The largest response body read, in bytes.
    pub(crate) max_body: usize,
}

impl FetchRules {
    /// `max_fetches` an invocation, to `hosts` (valid ones; validation reports the others; none:
    /// any), bodies up to `memory_mib`.
    pub(crate) fn new(max_fetches: usize, hosts: &[String], memory_mib: usize) -> Self {
        Self { max_fetches, hosts: hosts.iter().filter_map(|host| host.parse().ok()).collect(), max_body: memory_mib.saturating_mul(1024 * 1024) }
    }

    /// Whether `url`'s host is one the rules allow.
    pub(crate) fn allows(&self, url: &Url) -> bool {
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else { return self.hosts.is_empty() };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.hosts.is_empty() || self.hosts.iter().any(|allowed| allowed.name.eq_ignore_ascii_case(host) && allowed.port.is_none_or(|p| p == port))
    }
}

/// An entry of `fetch_hosts`: a host name or address, on any port (`api.example.com`) or one
/// (`127.0.0.1:8080`, `[::1]:8080`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AllowedHost {
    name: String,
    port: Option<u16>,
}

impl std::str::FromStr for AllowedHost {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let invalid = || format!("`{text}` is not a host or host:port (such as \"api.example.com\" or \"127.0.0.1:8080\")");
        let (name, port) = match text.strip_prefix('[') {
            Some(rest) => match rest.split_once(']') {
                Some((name, "")) => (name, None),
                Some((name, port)) => (name, Some(port.strip_prefix(':').ok_or_else(invalid)?)),
                None => return Err(invalid()),
            },
            None => match text.rsplit_once(':') {
                Some((name, port)) if !name.contains(':') => (name, Some(port)),
                _ => (text, None),
            },
        };
        let port = port.map(|port| port.parse::<u16>().map_err(|_| invalid())).transpose()?;
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':');
        if name.is_empty() || !name.chars().all(valid) {
            return Err(invalid());
        }
        Ok(Self { name: name.to_owned(), port })
    }
}

/// The `fetch` function of one engine.
pub(super) fn function<'js>(ctx: &Ctx<'js>, host: &Rc<Host>) -> rquickjs::Result<Function<'js>> {
    let host = Rc::clone(host);
    let request = Function::new(
        ctx.clone(),
        Async(move |ctx: Ctx<'js>, url: String, options: Opt<Object<'js>>| {
            let prepared = prepare(&host, &url, options.0.as_ref());
            let host = Rc::clone(&host);
            async move {
                let (request, timeout) = prepared.map_err(|e| type_error(&ctx, &e))?;
                let response = send(&host, request, timeout).await.map_err(|e| error(&ctx, &format!("fetch {url}: {e}")))?;
                response.into_js(&ctx)
            }
        }),
    )?
    .with_name("request")?;
    let make: Function<'js> = ctx.eval(FETCH_JS)?;
    make.call((request,))
}

/// Checks a fetch against the rules and builds its request, with its timeout.
fn prepare(host: &Host, url: &str, options: Option<&Object<'_>>) -> Result<(reqwest::Request, Option<Duration>), String> {
    let rules = &host.modules.fetch;
    let count = host.fetches.get() + 1;
    if count > rules.max_fetches {
        return Err(format!("fetch {url}: more than `max_fetches` ({}) fetches in one invocation", rules.max_fetches));
    }
    host.fetches.set(count);
    let parsed = Url::parse(url).map_err(|e| format!("fetch {url}: not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("fetch {url}: only http and https URLs can be fetched"));
    }
    if !rules.allows(&parsed) {
        return Err(format!("fetch {url}: the host is not in the block's `fetch_hosts`"));
    }
    let text = |name: &str| -> Result<Option<String>, String> {
        let Some(options) = options else { return Ok(None) };
        let value: Value<'_> = options.get(name).map_err(|e| e.to_string())?;
        if value.is_undefined() || value.is_null() {
            return Ok(None);
        }
        value.as_string().and_then(|s| s.to_string().ok()).map(Some).ok_or_else(|| format!("fetch {url}: `{name}` must be a string"))
    };
    let method = text("method")?.unwrap_or_else(|| "GET".to_owned());
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).map_err(|_| format!("fetch {url}: `{method}` is not an HTTP method"))?;
    let mut request = reqwest::Request::new(method, parsed);
    if let Some(body) = text("body")? {
        *request.body_mut() = Some(body.into());
    }
    let mut timeout = None;
    if let Some(options) = options {
        let headers: Option<Object<'_>> = options.get("headers").map_err(|e| e.to_string())?;
        for pair in headers.iter().flat_map(|headers| headers.props::<String, String>()) {
            let (name, value) = pair.map_err(|e| format!("fetch {url}: `headers` must map names to strings: {e}"))?;
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("fetch {url}: the header `{name}`: {e}"))?;
            let value = reqwest::header::HeaderValue::from_str(&value).map_err(|e| format!("fetch {url}: the header `{name}`: {e}"))?;
            request.headers_mut().append(name, value);
        }
        let ms: Option<f64> = options.get("timeout").map_err(|_| format!("fetch {url}: `timeout` must be milliseconds"))?;
        if let Some(ms) = ms {
            timeout = Some(Duration::try_from_secs_f64(ms / 1000.0).map_err(|_| format!("fetch {url}: `timeout` must be positive milliseconds"))?);
        }
    }
    Ok((request, timeout))
}

/// A response read whole, for the JavaScript `Response`.
struct Raw {
    status: u16,
    status_text: String,
    url: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Raw {
    fn into_js<'js>(self, ctx: &Ctx<'js>) -> rquickjs::Result<Object<'js>> {
        let object = Object::new(ctx.clone())?;
        object.set("status", self.status)?;
        object.set("statusText", self.status_text)?;
        object.set("url", self.url)?;
        let headers = Array::new(ctx.clone())?;
        for (i, (name, value)) in self.headers.into_iter().enumerate() {
            headers.set(i, vec![name, value])?;
        }
        object.set("headers", headers)?;
        object.set("body", self.body)?;
        Ok(object)
    }
}

/// Sends `request` and reads the response, within `timeout` and the invocation's time left.
async fn send(host: &Host, request: reqwest::Request, timeout: Option<Duration>) -> Result<Raw, String> {
    // The invocation's deadline bounds every fetch; a fetch's own `timeout` may be shorter.
    let left = host.remaining();
    let (limit, why) = match timeout {
        Some(own) if own < left => (own, "its `timeout`"),
        _ => (left, "the handler's timeout"),
    };
    let client = match host.client.get() {
        Some(client) => client.clone(),
        None => {
            let client = client(&host.modules.fetch).map_err(|e| format!("cannot make the HTTP client: {e}"))?;
            host.client.get_or_init(|| client).clone()
        }
    };
    let exchange = read(client, request, host.modules.fetch.max_body);
    tokio::time::timeout(limit, exchange).await.map_err(|_| format!("no response before {why} ({}ms)", limit.as_millis()))?
}

async fn read(client: reqwest::Client, request: reqwest::Request, max_body: usize) -> Result<Raw, String> {
    let mut response = client.execute(request).await.map_err(|e| runnel_engine::error_chain(&e))?;
    let status = response.status();
    let headers =
        response.headers().iter().map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned())).collect();
    let url = response.url().to_string();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| runnel_engine::error_chain(&e))? {
        if body.len() + chunk.len() > max_body {
            return Err(format!("the response body is larger than the handler's memory ({max_body} bytes)"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Raw {
        status: status.as_u16(),
        status_text: status.canonical_reason().unwrap_or_default().to_owned(),
        url,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The engine's client: redirects only to hosts the rules allow.
fn client(rules: &FetchRules) -> reqwest::Result<reqwest::Client> {
    let rules = rules.clone();
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if !rules.allows(attempt.url()) {
            let refused = format!("a redirect to {}, whose host is not in the block's `fetch_hosts`", attempt.url());
            attempt.error(refused)
        } else if attempt.previous().len() >= MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder().redirect(policy).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(hosts: &[&str]) -> FetchRules {
        let hosts = hosts.iter().map(|h| h.parse().unwrap_or_else(|e| panic!("{h}: {e}"))).collect();
        FetchRules { max_fetches: 1, hosts, max_body: 1 }
    }

    fn allows(rules: &FetchRules, url: &str) -> bool {
        rules.allows(&Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}")))
    }

    #[test]
    fn hosts_match_by_name_and_by_port_when_one_is_given() {
        let rules = rules(&["API.example.com", "127.0.0.1:8080", "[::1]:9000", "::2"]);
        assert!(allows(&rules, "https://api.example.com/x"));
        assert!(allows(&rules, "http://api.EXAMPLE.com:81/x"), "any port");
        assert!(!allows(&rules, "https://evil.api.example.com/"));
        assert!(allows(&rules, "http://127.0.0.1:8080/"));
        assert!(!allows(&rules, "http://127.0.0.1/"), "port 80 is not 8080");
        assert!(allows(&rules, "http://[::1]:9000/") && !allows(&rules, "http://[::1]:9001/"));
        assert!(allows(&rules, "http://[::2]:1/"));
        assert!(allows(&super::tests::rules(&[]), "http://anything:1/"), "no list: any host");
        for bad in ["http://x.com", "x.com/path", "x.com:port", "", "[::1", "a b"] {
            assert!(bad.parse::<AllowedHost>().is_err(), "{bad}");
        }
    }
}
