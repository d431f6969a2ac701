//! The `okta` source: the members of the configured Okta groups, read from Okta's Management API
//! with an API token (`SSWS`) or an OAuth 2.0 service app (`private_key_jwt`), as SCIM-shaped
//! records for the shared mapping.
//!
//! One request at a time (the source is driven by one sync, and waits for each response), paced by
//! Okta's rate-limit headers: when a bucket's window has a tenth or less left, the next request in
//! it waits for the reset; a 429 waits until `X-Rate-Limit-Reset` (at least a second, a few times,
//! bounded by `max_rate_limit_wait`), never in a tight loop.
//!
//! Between full listings (`full_sync_interval`), a sync re-lists only the groups whose
//! `lastMembershipUpdated` moved, and asks `/api/v1/users?search=lastUpdated gt "…"` for users
//! changed since the last good sync began (Okta's clock, its `Date` header, less an overlap):
//! deactivation does not touch a group's membership date, but does touch the user's `lastUpdated`
//! (and that search, unlike the plain listing, returns DEPROVISIONED users).
//!
//! Users who were members and are no longer (left every configured group) are kept as inactive
//! accounts, from their last fetched Okta object. After a restart the source has fetched nothing
//! yet: it carries over the users of the published cache (when it came from the same org) as
//! inactive records, used only for users who are in no configured group any more.

mod auth;
mod paging;
mod records;

use super::{FetchFuture, Source};
use crate::config::{is_okta_group_id, OktaConfig};
use crate::mapping::DirectoryData;
use crate::secret::{read_secret_file, Secret};
use crate::{Error, Result};
use paging::{Bucket, RateHeaders};
use records::{object_id, okta_time, ProfileMapping};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Url;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Bytes of all responses of one sync together.
const MAX_TOTAL_BYTES: u64 = 4 << 30;
/// Bytes read of an error response.
const MAX_ERROR_BYTES: u64 = 64 * 1024;
/// Re-ask for this much history in a delta: Okta's search index lags (typically under a second).
const DELTA_OVERLAP: time::Duration = time::Duration::minutes(2);
/// Retries of one request answered 429.
const MAX_429_RETRIES: u32 = 4;
/// Okta's maximum `limit` for `/api/v1/users` and its recommendation for `/api/v1/groups`.
const SEARCH_LIMIT: u32 = 200;

/// Server text (error summaries, descriptions) for a log line: bounded, no control characters.
fn server_text(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(300)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > 300 {
        out.push('…');
    }
    out
}

enum Auth {
    Ssws(Secret),
    OAuth(Box<OAuth>),
}

struct OAuth {
    client_id: String,
    key: auth::SigningKey,
    key_id: Option<String>,
    scopes: String,
    token: Option<auth::AccessToken>,
}

/// One configured group as last seen: the Okta Group object and its members' ids.
#[derive(Debug, Clone)]
struct KnownGroup {
    object: Value,
    members: BTreeSet<String>,
}

impl KnownGroup {
    fn id(&self) -> Option<&str> {
        object_id(&self.object)
    }
}

/// What this process knows of Okta, carried from one sync to the next.
#[derive(Debug, Clone, Default)]
struct Memory {
    /// Okta User objects by id, as last fetched: members, and former members kept inactive.
    users: BTreeMap<String, Value>,
    /// Inactive SCIM records re-created from the published cache at start, by id.
    seeded: BTreeMap<String, Value>,
    /// By configured entry (name or id).
    groups: BTreeMap<String, KnownGroup>,
    /// Configured names whose group was deleted in Okta, with its id.
    deleted_groups: BTreeMap<String, String>,
    full_at: Option<Instant>,
    /// Everything changed after this instant (Okta's clock) is still to be seen: the start of the
    /// last good sync. The next delta asks for users changed after it (less an overlap).
    delta_since: Option<OffsetDateTime>,
}

/// The last rate-limit headers of a bucket, and the server's clock when they came.
struct RateState {
    headers: RateHeaders,
    server_now: i64,
    seen_at: Instant,
}

pub struct OktaSource {
    config: OktaConfig,
    org: Url,
    client: reqwest::Client,
    auth: Auth,
    profile: ProfileMapping,
    rate: HashMap<Bucket, RateState>,
    memory: Memory,
    bytes_this_sync: u64,
    /// Okta's clock (`Date`) at the first response of the sync in progress.
    sync_started: Option<i64>,
}

fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

impl OktaSource {
    pub fn new(config: &OktaConfig) -> Result<Self> {
        let auth = match (
            &config.token_file,
            &config.client_id,
            &config.private_key_file,
        ) {
            (Some(token_file), _, _) => Auth::Ssws(read_secret_file(token_file)?),
            (None, Some(client_id), Some(key_file)) => {
                let pem = read_secret_file(key_file)?;
                let key =
                    auth::SigningKey::from_pem(pem.expose()).map_err(|reason| Error::Config {
                        path: key_file.display().to_string(),
                        reason,
                    })?;
                Auth::OAuth(Box::new(OAuth {
                    client_id: client_id.clone(),
                    key,
                    key_id: config.key_id.clone(),
                    scopes: config.scopes().join(" "),
                    token: None,
                }))
            }
            _ => {
                return Err(Error::Config {
                    path: "directory".into(),
                    reason: "give token_file, or client_id and private_key_file".into(),
                })
            }
        };
        let org = Url::parse(&config.org_url).map_err(|e| Error::Config {
            path: "directory.org_url".into(),
            reason: e.to_string(),
        })?;
        let client = crate::http::client(
            Duration::from_secs(config.connect_timeout),
            Duration::from_secs(config.request_timeout),
            config.ca_file.as_deref(),
        )?;
        Ok(OktaSource {
            profile: ProfileMapping::from_config(config),
            config: config.clone(),
            org,
            client,
            auth,
            rate: HashMap::new(),
            memory: Memory::default(),
            bytes_this_sync: 0,
            sync_started: None,
        })
    }

    /// Carries over the users of the published cache at `path`, if it was built from this source
    /// (`label`, e.g. `okta:https://example.okta.com`), as inactive records: a user who left every
    /// configured group while usherd was not running stays an inactive account rather than
    /// disappearing. Users still in a configured group are fetched from Okta as usual.
    pub fn seed_from_cache(&mut self, path: &Path, label: &str) {
        if !path.exists() {
            return;
        }
        let loaded =
            usher_cache::Reader::open(path).and_then(|r| Ok((r.meta()?, r.load_snapshot()?)));
        match loaded {
            Ok((meta, snapshot)) if meta.source == label => {
                for user in &snapshot.users {
                    self.memory.seeded.insert(
                        user.directory_id.clone(),
                        records::scim_user_from_cache(user),
                    );
                }
                log::debug!(
                    "okta: {} users of the published cache carried over",
                    self.memory.seeded.len()
                );
            }
            Ok((meta, _)) => log::info!(
                "okta: the published cache comes from {}, not {label}; its users are not carried over",
                crate::scim::printable(&meta.source)
            ),
            Err(e) => log::warn!("okta: cannot read the published cache to carry its users over: {e}"),
        }
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.org
            .join(path)
            .map_err(|e| Error::Source(format!("bad path {path}: {e}")))
    }

    /// Waits, if the bucket's window is nearly used up, for it to reset.
    async fn pace(&mut self, bucket: Bucket) -> Result<()> {
        let Some(state) = self.rate.get(&bucket) else {
            return Ok(());
        };
        let Some(wait) = paging::wait_before(&state.headers, state.server_now) else {
            return Ok(());
        };
        let wait = wait.saturating_sub(state.seen_at.elapsed());
        let remaining = state.headers.remaining.unwrap_or(0);
        let limit = state.headers.limit.unwrap_or(0);
        self.rate.remove(&bucket);
        if wait.is_zero() {
            return Ok(());
        }
        if wait > Duration::from_secs(self.config.max_rate_limit_wait) {
            return Err(Error::Http {
                status: 429,
                what: format!(
                    "{bucket}: only {remaining} of {limit} requests left in Okta's rate-limit window, which resets in {} s (more than max_rate_limit_wait)",
                    wait.as_secs()
                ),
                retry_after: Some(wait),
            });
        }
        log::info!(
            "okta: {remaining} of {limit} requests left in the rate-limit window of {bucket}; waiting {} s for it to reset",
            wait.as_secs_f32().ceil()
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Notes a response's rate-limit headers, with the server's clock (its `Date`) to read the
    /// reset time against.
    fn observe(&mut self, bucket: Bucket, headers: &HeaderMap) -> (RateHeaders, i64) {
        let rate = paging::rate_headers(headers);
        let date = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(paging::http_date);
        if self.sync_started.is_none() {
            self.sync_started = date;
        }
        let server_now = date.unwrap_or_else(now_unix);
        if rate.limit.is_some_and(|l| l > 0) && rate.remaining.is_some() && rate.reset.is_some() {
            self.rate.insert(
                bucket,
                RateState {
                    headers: rate,
                    server_now,
                    seen_at: Instant::now(),
                },
            );
        }
        (rate, server_now)
    }

    /// After a 429: waits until the window resets, or fails when it has waited enough.
    async fn wait_after_429(
        &mut self,
        bucket: Bucket,
        headers: &HeaderMap,
        rate: RateHeaders,
        server_now: i64,
        attempt: u32,
        what: &str,
    ) -> Result<()> {
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let wait = paging::wait_after_429(&rate, retry_after, server_now, attempt);
        // The 429 answers for the window: the next request goes after the reset, not before.
        self.rate.remove(&bucket);
        if attempt >= MAX_429_RETRIES || wait > Duration::from_secs(self.config.max_rate_limit_wait)
        {
            return Err(Error::Http {
                status: 429,
                what: format!(
                    "{what} (Okta's rate limit for {bucket}; {} tries)",
                    attempt + 1
                ),
                retry_after: Some(wait),
            });
        }
        log::warn!(
            "okta: {what}: rate limited (HTTP 429, {} left of {} in the window); waiting {} s for the reset",
            rate.remaining.unwrap_or(0),
            rate.limit.unwrap_or(0),
            wait.as_secs()
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Reads a response body, bounded in size.
    async fn read_body(
        &mut self,
        response: reqwest::Response,
        max: u64,
        what: &str,
    ) -> Result<Vec<u8>> {
        let body = crate::http::read_body(response, max)
            .await
            .map_err(|e| Error::Source(format!("{what}: {e}")))?;
        self.bytes_this_sync += body.len() as u64;
        if self.bytes_this_sync > MAX_TOTAL_BYTES {
            return Err(Error::Source(format!(
                "{what}: Okta sent more than {MAX_TOTAL_BYTES} bytes in one sync"
            )));
        }
        Ok(body)
    }

    /// The `Authorization` header value, and whether the token behind it was fetched just now.
    async fn authorization(&mut self) -> Result<(HeaderValue, bool)> {
        let (value, fresh) = match &self.auth {
            Auth::Ssws(token) => (format!("SSWS {}", token.expose()), false),
            Auth::OAuth(oauth) => match &oauth.token {
                Some(token) if token.is_fresh() => (format!("Bearer {}", token.expose()), false),
                _ => {
                    let token = self.fetch_token().await?;
                    let value = format!("Bearer {}", token.expose());
                    if let Auth::OAuth(oauth) = &mut self.auth {
                        oauth.token = Some(token);
                    }
                    (value, true)
                }
            },
        };
        let mut header = HeaderValue::from_str(&value).map_err(|_| {
            Error::Source("the token holds characters that cannot go in a header".into())
        })?;
        header.set_sensitive(true);
        Ok((header, fresh))
    }

    /// A new access token from `{org}/oauth2/v1/token` (client credentials, private_key_jwt).
    async fn fetch_token(&mut self) -> Result<auth::AccessToken> {
        const WHAT: &str = "Okta token endpoint";
        let url = self.url("oauth2/v1/token")?;
        // Okta compares `aud` with the token endpoint's URL as a string.
        let audience = format!("{}/oauth2/v1/token", self.config.org_url);
        let mut attempt = 0;
        loop {
            self.pace(Bucket::Token).await?;
            let form = {
                let Auth::OAuth(oauth) = &self.auth else {
                    return Err(Error::Source("no OAuth client configured".into()));
                };
                let jti = auth::random_jti().map_err(Error::Source)?;
                let assertion = auth::client_assertion(
                    &oauth.key,
                    oauth.key_id.as_deref(),
                    &oauth.client_id,
                    &audience,
                    now_unix(),
                    &jti,
                )
                .map_err(Error::Source)?;
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "client_credentials")
                    .append_pair("scope", &oauth.scopes)
                    .append_pair("client_assertion_type", auth::CLIENT_ASSERTION_TYPE)
                    .append_pair("client_assertion", &assertion)
                    .finish()
            };
            let response = self
                .client
                .post(url.clone())
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(ACCEPT, "application/json")
                .body(form)
                .send()
                .await
                .map_err(|e| request_error(e, WHAT))?;
            let headers = response.headers().clone();
            let (rate, server_now) = self.observe(Bucket::Token, &headers);
            let status = response.status().as_u16();
            let received = Instant::now();
            if status == 429 {
                self.wait_after_429(Bucket::Token, &headers, rate, server_now, attempt, WHAT)
                    .await?;
                attempt += 1;
                continue;
            }
            if !(200..300).contains(&status) {
                let body = self.read_body(response, MAX_ERROR_BYTES, WHAT).await?;
                let message = auth::describe_token_error(status, &body);
                return Err(if status >= 500 {
                    Error::Http {
                        status,
                        what: message,
                        retry_after: None,
                    }
                } else {
                    Error::Source(message)
                });
            }
            let body = self.read_body(response, MAX_ERROR_BYTES, WHAT).await?;
            let json: Value = serde_json::from_slice(&body)
                .map_err(|e| Error::Source(format!("{WHAT}: not valid JSON: {e}")))?;
            let token = auth::parse_token_response(&json, received)
                .map_err(|e| Error::Source(format!("{WHAT}: {e}")))?;
            log::debug!("okta: new access token");
            return Ok(token);
        }
    }

    /// GET one page: its JSON and the target of its `next` link. 401 with an OAuth token fetches a
    /// new token once; 429 waits for the reset; 404 comes back as `Error::Http`.
    async fn get(&mut self, url: &Url, what: &str) -> Result<(Value, Option<String>)> {
        let bucket = paging::bucket(url.path());
        let mut attempt = 0;
        let mut renewed = false;
        loop {
            self.pace(bucket).await?;
            let (authorization, fresh) = self.authorization().await?;
            let response = self
                .client
                .get(url.clone())
                .header(AUTHORIZATION, authorization)
                .header(ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| request_error(e, what))?;
            let headers = response.headers().clone();
            let (rate, server_now) = self.observe(bucket, &headers);
            let status = response.status().as_u16();
            match status {
                200..=299 => {
                    let next = paging::next_link(
                        headers
                            .get_all(reqwest::header::LINK)
                            .iter()
                            .filter_map(|v| v.to_str().ok()),
                    );
                    let max = self.config.max_response_bytes;
                    let body = self.read_body(response, max, what).await?;
                    let json = serde_json::from_slice(&body)
                        .map_err(|e| Error::Source(format!("{what}: not valid JSON: {e}")))?;
                    return Ok((json, next));
                }
                429 => {
                    self.wait_after_429(bucket, &headers, rate, server_now, attempt, what)
                        .await?;
                    attempt += 1;
                }
                401 => {
                    let body = self.read_body(response, MAX_ERROR_BYTES, what).await?;
                    let detail = okta_error(&body);
                    match &mut self.auth {
                        Auth::OAuth(oauth) if !fresh && !renewed => {
                            // Expired early or revoked: one new token, then the same request.
                            oauth.token = None;
                            renewed = true;
                            log::info!(
                                "okta: {what}: the access token was refused (HTTP 401 {detail}); getting a new one"
                            );
                        }
                        Auth::OAuth(_) => {
                            return Err(Error::Source(format!(
                                "{what}: Okta refused a new access token (HTTP 401 {detail}); is the service app active, with okta.users.read and okta.groups.read granted and an admin role assigned?"
                            )))
                        }
                        Auth::Ssws(_) => {
                            let file = self
                                .config
                                .token_file
                                .as_ref()
                                .map(|p| p.display().to_string())
                                .unwrap_or_default();
                            return Err(Error::Source(format!(
                                "{what}: Okta refused the API token (HTTP 401 {detail}): it was revoked, expired (unused for 30 days), or belongs to another org; create a new token and write it to {file}"
                            )));
                        }
                    }
                }
                403 => {
                    let body = self.read_body(response, MAX_ERROR_BYTES, what).await?;
                    return Err(Error::Source(format!(
                        "{what}: Okta denied access (HTTP 403 {}): the token's admin role, or the service app's granted scopes, do not allow reading users and groups",
                        okta_error(&body)
                    )));
                }
                _ => {
                    let retry_after = headers
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    if status != 404 {
                        if let Ok(body) = self.read_body(response, MAX_ERROR_BYTES, what).await {
                            log::warn!("okta: {what}: HTTP {status} {}", okta_error(&body));
                        }
                    }
                    return Err(Error::Http {
                        status,
                        what: what.to_string(),
                        retry_after,
                    });
                }
            }
        }
    }

    /// Every item of a listing, following `next` links: bounded, and failing (so nothing is
    /// concluded) on a page that fails or a listing that does not end.
    async fn list(&mut self, first: Url, what: &str) -> Result<Vec<Value>> {
        let mut pager = paging::Pager::new(self.config.max_entries);
        let mut url = first;
        loop {
            let page_what = format!("{what} (page {})", pager.pages() + 1);
            let (page, next) = self.get(&url, &page_what).await?;
            let next = match next {
                Some(link) => Some(
                    paging::check_next(&self.org, &url, &link)
                        .map_err(|e| Error::Source(format!("{page_what}: {e}")))?,
                ),
                None => None,
            };
            let more = pager
                .accept(&page, next.as_ref())
                .map_err(|e| Error::Source(format!("{what}: {e}")))?;
            match next {
                Some(next) if more => url = next,
                _ => break,
            }
        }
        Ok(pager.into_items())
    }

    /// `GET /api/v1/groups/{id}`; `None` when Okta has no such group.
    async fn group_by_id(&mut self, id: &str) -> Result<Option<Value>> {
        let mut url = self.url("api/v1/groups")?;
        url.path_segments_mut()
            .map_err(|()| Error::Source("the org URL cannot take a path".into()))?
            .push(id);
        let what = format!("Okta group {}", crate::scim::printable(id));
        match self.get(&url, &what).await {
            Ok((group, _)) if object_id(&group) == Some(id) => Ok(Some(group)),
            Ok(_) => Err(Error::Source(format!(
                "{what}: the answer is not that group"
            ))),
            Err(Error::Http { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The groups named exactly `name`: `search=profile.name eq "…"` may match by prefix.
    async fn groups_named(&mut self, name: &str) -> Result<Vec<Value>> {
        let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
        let mut url = self.url("api/v1/groups")?;
        url.query_pairs_mut()
            .append_pair("search", &format!("profile.name eq \"{quoted}\""))
            .append_pair(
                "limit",
                &SEARCH_LIMIT.min(self.config.page_size).to_string(),
            );
        let found = self
            .list(url, &format!("Okta groups named {name:?}"))
            .await?;
        Ok(found
            .into_iter()
            .filter(|g| group_name(g) == Some(name))
            .collect())
    }

    /// The configured group `entry` as Okta has it now; `None` when it was deleted.
    async fn current_group(
        &mut self,
        entry: &str,
        known_id: Option<String>,
        full: bool,
    ) -> Result<Option<Value>> {
        if is_okta_group_id(entry) {
            let group = self.group_by_id(entry).await?;
            if group.is_none() {
                log::warn!("okta: group {entry} (directory.groups) no longer exists in Okta; its members lose access here");
            }
            return Ok(group);
        }
        let mut by_id = None;
        if let (Some(id), false) = (&known_id, full) {
            // Between full syncs, the group by its id (a cheaper bucket), if it kept its name.
            let group = self.group_by_id(id).await?;
            if group.as_ref().is_some_and(|g| group_name(g) == Some(entry)) {
                return Ok(group);
            }
            by_id = Some(group);
        }
        let mut found = self.groups_named(entry).await?;
        match found.len() {
            1 => Ok(found.pop()),
            0 => match known_id {
                Some(id) => {
                    let group = match by_id {
                        Some(group) => group,
                        None => self.group_by_id(&id).await?,
                    };
                    match group {
                        Some(group) => {
                            log::warn!(
                                "okta: group {entry:?} (directory.groups) was renamed in Okta to {:?}; following it by its id {id} until usherd restarts: update directory.groups",
                                group_name(&group).unwrap_or_default()
                            );
                            Ok(Some(group))
                        }
                        None => {
                            log::warn!("okta: group {entry:?} ({id}) no longer exists in Okta; its members lose access here");
                            Ok(None)
                        }
                    }
                }
                None => Err(Error::Source(format!(
                    "Okta has no group named {entry:?} (directory.groups): check the name, or name the group by its id (00g…)"
                ))),
            },
            n => {
                let ids: Vec<&str> = found.iter().filter_map(object_id).collect();
                Err(Error::Source(format!(
                    "{n} Okta groups are named {entry:?} ({}); name the one meant by its id in directory.groups",
                    ids.join(", ")
                )))
            }
        }
    }

    async fn members(&mut self, group_id: &str, name: &str) -> Result<Vec<Value>> {
        let mut url = self.url("api/v1/groups")?;
        url.path_segments_mut()
            .map_err(|()| Error::Source("the org URL cannot take a path".into()))?
            .push(group_id)
            .push("users");
        url.query_pairs_mut()
            .append_pair("limit", &self.config.page_size.to_string());
        self.list(
            url,
            &format!("members of Okta group {}", crate::scim::printable(name)),
        )
        .await
    }

    /// Users changed after `since` (any status: a search returns DEPROVISIONED users too).
    async fn users_changed_since(&mut self, since: OffsetDateTime) -> Result<Vec<Value>> {
        let since = records::format_okta_time(since);
        let mut url = self.url("api/v1/users")?;
        url.query_pairs_mut()
            .append_pair("search", &format!("lastUpdated gt \"{since}\""))
            .append_pair(
                "limit",
                &SEARCH_LIMIT.min(self.config.page_size).to_string(),
            );
        self.list(url, &format!("Okta users changed since {since}"))
            .await
    }

    async fn fetch_all(&mut self) -> Result<DirectoryData> {
        self.bytes_this_sync = 0;
        self.sync_started = None;
        let interval = Duration::from_secs(self.config.full_sync_interval);
        let full = self.memory.full_at.is_none_or(|t| t.elapsed() >= interval);
        // Work on a copy: a sync that fails half way leaves the memory as the last good one.
        let mut next = self.memory.clone();
        let mut newest = None;
        let (mut listed, mut unchanged, mut without_id) = (0, 0, 0);
        for entry in self.config.groups.clone() {
            let known = next.groups.get(&entry).cloned();
            let known_id = known
                .as_ref()
                .and_then(|k| k.id().map(str::to_string))
                .or_else(|| next.deleted_groups.get(&entry).cloned());
            let Some(group) = self.current_group(&entry, known_id.clone(), full).await? else {
                if let Some(id) = known_id.filter(|_| !is_okta_group_id(&entry)) {
                    next.deleted_groups.insert(entry.clone(), id);
                }
                next.groups.remove(&entry);
                continue;
            };
            next.deleted_groups.remove(&entry);
            let Some(id) = object_id(&group).map(str::to_string) else {
                return Err(Error::Source(format!(
                    "Okta sent group {entry:?} without an id"
                )));
            };
            if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(Error::Source(format!(
                    "Okta sent group {entry:?} with an unexpected id {}",
                    crate::scim::printable(&id)
                )));
            }
            let membership = group.get("lastMembershipUpdated").and_then(Value::as_str);
            if let Some(known) = known.filter(|k| {
                !full
                    && k.id() == Some(id.as_str())
                    && membership.is_some()
                    && k.object
                        .get("lastMembershipUpdated")
                        .and_then(Value::as_str)
                        == membership
            }) {
                next.groups.insert(
                    entry,
                    KnownGroup {
                        object: group,
                        members: known.members,
                    },
                );
                unchanged += 1;
                continue;
            }
            let users = self.members(&id, &entry).await?;
            let mut members = BTreeSet::new();
            for user in users {
                let Some(user_id) = object_id(&user).map(str::to_string) else {
                    without_id += 1;
                    continue;
                };
                newest = newest.max(okta_time(&user, "lastUpdated"));
                members.insert(user_id.clone());
                next.users.insert(user_id, user);
            }
            next.groups.insert(
                entry,
                KnownGroup {
                    object: group,
                    members,
                },
            );
            listed += 1;
        }
        let mut changed = 0;
        if !full {
            if let Some(since) = self.memory.delta_since {
                for user in self.users_changed_since(since - DELTA_OVERLAP).await? {
                    newest = newest.max(okta_time(&user, "lastUpdated"));
                    if let Some(slot) = object_id(&user).and_then(|id| next.users.get_mut(id)) {
                        if *slot != user {
                            changed += 1;
                        }
                        *slot = user;
                    }
                }
            }
        }
        if without_id > 0 {
            log::warn!("okta: {without_id} member records without an id were ignored");
        }
        // The next delta starts from this sync's start on Okta's clock; without a `Date` header,
        // from the newest change seen (which may reach far back in a quiet org).
        next.delta_since = self
            .sync_started
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
            .or_else(|| newest.max(self.memory.delta_since));
        if full {
            next.full_at = Some(Instant::now());
        }
        let users = &next.users;
        next.seeded.retain(|id, _| !users.contains_key(id));
        if next.users.len() + next.seeded.len() > self.config.max_entries {
            return Err(Error::Source(format!(
                "more than {} users",
                self.config.max_entries
            )));
        }
        let data = build(&next, &self.profile);
        if full {
            log::info!(
                "okta: full listing: {listed} groups, {} users ({} in no configured group, kept inactive)",
                data.users.len(),
                data.users.iter().filter(|u| !is_member(&next, u)).count()
            );
        } else {
            log::info!(
                "okta: {unchanged} groups unchanged (lastMembershipUpdated), {listed} re-listed; {changed} known users changed"
            );
        }
        self.memory = next;
        Ok(data)
    }
}

fn is_member(memory: &Memory, user: &Value) -> bool {
    let id = object_id(user).unwrap_or_default();
    memory.groups.values().any(|g| g.members.contains(id))
}

fn group_name(group: &Value) -> Option<&str> {
    group
        .get("profile")
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str)
}

/// The SCIM-shaped records for what the memory holds: every user fetched (active only while in a
/// configured group), the users carried over from the cache, the configured groups.
fn build(memory: &Memory, profile: &ProfileMapping) -> DirectoryData {
    let members: HashSet<&str> = memory
        .groups
        .values()
        .flat_map(|g| g.members.iter().map(String::as_str))
        .collect();
    let users = memory
        .users
        .iter()
        .map(|(id, user)| records::scim_user(user, members.contains(id.as_str()), profile))
        .chain(
            memory
                .seeded
                .iter()
                .filter(|(id, _)| !memory.users.contains_key(*id))
                .map(|(_, record)| record.clone()),
        )
        .collect();
    let mut seen = HashSet::new();
    let groups = memory
        .groups
        .values()
        .filter(|g| g.id().is_some_and(|id| seen.insert(id.to_string())))
        .map(|g| records::scim_group(&g.object, &g.members, profile))
        .collect();
    DirectoryData { users, groups }
}

/// An Okta error body as `E0000011 Invalid token provided`, for a message.
fn okta_error(body: &[u8]) -> String {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let field = |k: &str| parsed.get(k).and_then(Value::as_str).map(server_text);
    match (field("errorCode"), field("errorSummary")) {
        (Some(code), Some(summary)) => format!("{code} {summary}"),
        (Some(code), None) => code,
        _ => "(no Okta error code)".into(),
    }
}

fn request_error(e: reqwest::Error, what: &str) -> Error {
    Error::Source(format!("{what}: {}", crate::http::describe(e)))
}

impl Source for OktaSource {
    fn fetch<'a>(&'a mut self, projector: &'a crate::mapping::Projector) -> FetchFuture<'a> {
        // The records are built from this source's memory of Okta, kept between syncs for its
        // deltas; each is projected and dropped in turn.
        Box::pin(async move { Ok(crate::mapping::project(self.fetch_all().await?, projector)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn profile() -> ProfileMapping {
        ProfileMapping {
            active_statuses: vec!["ACTIVE".into()],
            uid: "uidNumber".into(),
            gid: "gidNumber".into(),
            home: "homeDirectory".into(),
            shell: "loginShell".into(),
            ssh_keys: "sshPublicKey".into(),
            group_name: "name".into(),
            group_gid: "gidNumber".into(),
        }
    }

    fn user(id: &str, status: &str) -> Value {
        json!({"id": id, "status": status, "profile": {"login": format!("{id}@example.com")}})
    }

    #[test]
    fn former_members_and_carried_over_users_are_inactive() {
        let mut memory = Memory::default();
        memory.users.insert("00ua".into(), user("00ua", "ACTIVE"));
        memory.users.insert("00ub".into(), user("00ub", "ACTIVE"));
        memory
            .users
            .insert("00uc".into(), user("00uc", "DEPROVISIONED"));
        memory.seeded.insert(
            "00ud".into(),
            json!({"id": "00ud", "userName": "d", "active": false}),
        );
        memory
            .seeded
            .insert("00ua".into(), json!({"id": "00ua", "active": false}));
        let group = json!({"id": "00g1", "profile": {"name": "ops"}});
        for entry in ["ops", "00g1"] {
            memory.groups.insert(
                entry.into(),
                KnownGroup {
                    object: group.clone(),
                    members: ["00ua".to_string(), "00uc".to_string()].into(),
                },
            );
        }
        let data = build(&memory, &profile());
        let active: BTreeMap<&str, bool> = data
            .users
            .iter()
            .map(|u| (u["id"].as_str().unwrap(), u["active"].as_bool().unwrap()))
            .collect();
        assert_eq!(
            active,
            [
                ("00ua", true),
                ("00ub", false),
                ("00uc", false),
                ("00ud", false)
            ]
            .into()
        );
        assert_eq!(data.groups.len(), 1, "one group named twice is listed once");
        assert_eq!(
            data.groups[0]["members"],
            json!([{"value": "00ua", "type": "User"}, {"value": "00uc", "type": "User"}])
        );
    }

    #[test]
    fn error_bodies_are_summarised_without_control_characters() {
        assert_eq!(
            okta_error(br#"{"errorCode":"E0000011","errorSummary":"Invalid token provided","errorCauses":[]}"#),
            "E0000011 Invalid token provided"
        );
        assert_eq!(okta_error(b"<html>"), "(no Okta error code)");
        assert_eq!(server_text("a\nb\u{1b}c"), "a b c");
        assert_eq!(server_text(&"x".repeat(400)).chars().count(), 301);
    }

    #[test]
    fn seeding_takes_only_a_cache_from_the_same_org() {
        use crate::config::{Config, DirectoryConfig};
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "00secret").unwrap();
        std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let config = Config::parse(&format!(
            "[directory]\nkind = \"okta\"\norg_url = \"https://x.okta.com\"\ngroups = [\"ops\"]\ntoken_file = \"{}\"\n",
            token.display()
        ))
        .unwrap();
        let DirectoryConfig::Okta(okta) = &config.directory else {
            unreachable!()
        };
        let cache = dir.path().join("cache.db");
        let user = usher_cache::User {
            name: "alice".into(),
            uid: 5001,
            gid: 5001,
            gecos: "Alice".into(),
            home: "/home/alice".into(),
            shell: "/bin/bash".into(),
            active: true,
            can_login: true,
            can_sudo: false,
            directory_id: "00ualice".into(),
            directory_name: "alice@example.com".into(),
            emails: vec!["alice@example.com".into()],
            ssh_keys: vec![],
            principals: vec!["alice".into()],
        };
        let snapshot = usher_cache::Snapshot {
            users: vec![user],
            groups: vec![],
        };
        let meta = |source: &str| usher_cache::Meta {
            generation: 1,
            built_at: 0,
            source: source.into(),
            content_hash: snapshot.content_hash(),
        };
        usher_cache::publish(&cache, &snapshot, &meta("scim:https://other")).unwrap();
        let mut source = OktaSource::new(okta).unwrap();
        source.seed_from_cache(&cache, &config.source_label());
        assert!(source.memory.seeded.is_empty());
        usher_cache::publish(&cache, &snapshot, &meta(&config.source_label())).unwrap();
        source.seed_from_cache(&cache, &config.source_label());
        assert_eq!(source.memory.seeded["00ualice"]["active"], false);
        assert_eq!(
            source.memory.seeded["00ualice"]["userName"],
            "alice@example.com"
        );
        source.seed_from_cache(&dir.path().join("missing.db"), &config.source_label());
    }
}
