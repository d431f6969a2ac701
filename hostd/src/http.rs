//! The HTTP client every fetcher uses (SCIM, Okta, the CA key URL): TLS verified by rustls, only a
//! private CA when one is configured, timeouts on connect and on each whole request, no redirects
//! (a redirect could carry a token elsewhere), and bodies read only up to a bound.

use crate::{io_error, Error, Result};
use std::path::Path;
use std::time::Duration;

pub fn client(
    connect_timeout: Duration,
    request_timeout: Duration,
    ca_file: Option<&Path>,
) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(request_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("usherd/", env!("CARGO_PKG_VERSION")));
    if let Some(ca_file) = ca_file {
        let pem = std::fs::read(ca_file).map_err(io_error(ca_file))?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| Error::Config {
            path: ca_file.display().to_string(),
            reason: format!("not a PEM certificate: {e}"),
        })?;
        // A private CA replaces the system's roots: only it may vouch for the server.
        builder = builder
            .tls_built_in_root_certs(false)
            .add_root_certificate(cert);
    }
    builder
        .build()
        .map_err(|e| Error::Source(format!("cannot build the HTTP client: {e}")))
}

/// What went wrong with a request, without its URL (which may carry a cursor) or any header.
pub fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    format!("{kind}: {}", e.without_url())
}

/// The body of `response`, refused as soon as it would pass `max` bytes.
pub async fn read_body(
    mut response: reqwest::Response,
    max: u64,
) -> std::result::Result<Vec<u8>, String> {
    let too_large = || format!("response larger than {max} bytes");
    if response.content_length().is_some_and(|len| len > max) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(describe)? {
        if (body.len() + chunk.len()) as u64 > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
