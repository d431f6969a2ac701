//! The `scim` source: complete listings of `/Users` and `/Groups` from a SCIM 2.0 service provider
//! (RFC 7644), paged by index or, where the server offers it, by cursor (RFC 9865).
//!
//! Real servers cap `count`, omit `Resources` on an empty page, change or misreport
//! `totalResults`, answer a page past the end with the first page again, and sometimes page
//! forever; a listing ends at an empty page (or the last cursor), or at a page of repeats once the
//! announced total has arrived, and fails, publishing nothing, when it repeats itself before that
//! or passes the configured bounds. A listing that failed part way is never taken as complete, so
//! it never deletes anything.

use super::{FetchFuture, Source};
use crate::config::{GroupMembers, ScimConfig};
use crate::mapping::{project, DirectoryData, Projector, Records};
use crate::secret::{read_secret_file, Secret};
use crate::{Error, Result};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Bytes of all pages of one sync together.
const MAX_TOTAL_BYTES: u64 = 4 << 30;
/// Re-ask for this much history in a delta, so changes stamped just before the last fetch are
/// not missed between server clocks and listing time.
const DELTA_OVERLAP: time::Duration = time::Duration::minutes(2);

#[derive(Debug, Clone, Copy, Default)]
struct Capabilities {
    filter: bool,
    cursor: bool,
}

/// What the last full listing returned, kept for delta syncs.
struct Known {
    users: BTreeMap<String, Value>,
    groups: BTreeMap<String, Value>,
    full_at: Instant,
    newest_change: Option<OffsetDateTime>,
}

pub struct ScimSource {
    config: ScimConfig,
    base: reqwest::Url,
    client: reqwest::Client,
    token: Secret,
    known: Option<Known>,
    /// The server refused a `meta.lastModified` filter: full listings only from then on.
    delta_refused: bool,
    bytes_this_sync: u64,
}

/// The pieces of a list request.
struct ListRequest<'a> {
    endpoint: &'a str,
    filter: Option<String>,
    exclude_members: bool,
}

impl ScimSource {
    pub fn new(config: &ScimConfig) -> Result<Self> {
        let token = read_secret_file(&config.token_file)?;
        let mut base = reqwest::Url::parse(&config.url).map_err(|e| Error::Config {
            path: "directory.url".into(),
            reason: e.to_string(),
        })?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let client = crate::http::client(
            Duration::from_secs(config.connect_timeout),
            Duration::from_secs(config.request_timeout),
            config.ca_file.as_deref(),
        )?;
        Ok(ScimSource {
            config: config.clone(),
            base,
            client,
            token,
            known: None,
            delta_refused: false,
            bytes_this_sync: 0,
        })
    }

    fn url(&self, path: &str) -> Result<reqwest::Url> {
        self.base
            .join(path)
            .map_err(|e| Error::Source(format!("bad path {path}: {e}")))
    }

    /// GET a JSON document, bounded in time and size. Never puts the token in an error.
    async fn get_json(&mut self, url: reqwest::Url, what: &str) -> Result<Value> {
        let body = self.get_body(url, what).await?;
        serde_json::from_slice(&body)
            .map_err(|e| Error::Source(format!("{what}: not valid JSON: {e}")))
    }

    /// GET a response body, bounded in time and size. Never puts the token in an error.
    async fn get_body(&mut self, url: reqwest::Url, what: &str) -> Result<Vec<u8>> {
        let fail =
            |e: reqwest::Error| Error::Source(format!("{what}: {}", crate::http::describe(e)));
        let response = self
            .client
            .get(url)
            .bearer_auth(self.token.expose())
            .header(
                reqwest::header::ACCEPT,
                "application/scim+json, application/json",
            )
            .send()
            .await
            .map_err(fail)?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, OffsetDateTime::now_utc()));
            if matches!(status.as_u16(), 401 | 403) {
                return Err(Error::Source(format!(
                    "{what}: the directory refused the token (HTTP {})",
                    status.as_u16()
                )));
            }
            return Err(Error::Http {
                status: status.as_u16(),
                what: what.to_string(),
                retry_after,
            });
        }
        let body = crate::http::read_body(response, self.config.max_response_bytes)
            .await
            .map_err(|e| Error::Source(format!("{what}: {e}")))?;
        self.bytes_this_sync += body.len() as u64;
        if self.bytes_this_sync > MAX_TOTAL_BYTES {
            return Err(Error::Source(format!(
                "{what}: the directory sent more than {MAX_TOTAL_BYTES} bytes in one sync"
            )));
        }
        Ok(body)
    }

    /// What the server says it supports. A server without the endpoint gets the basics; a
    /// throttled or unavailable one (429, 503) fails the sync, so its Retry-After is honoured
    /// before anything else is asked.
    async fn capabilities(&mut self) -> Result<Capabilities> {
        let Ok(url) = self.url("ServiceProviderConfig") else {
            return Ok(Capabilities::default());
        };
        match self.get_json(url, "ServiceProviderConfig").await {
            Ok(spc) => Ok(Capabilities {
                filter: matches!(
                    crate::scim::attribute(&spc, "filter.supported"),
                    Some(Value::Bool(true))
                ),
                cursor: matches!(
                    crate::scim::attribute(&spc, "pagination.cursor"),
                    Some(Value::Bool(true))
                ),
            }),
            Err(
                e @ Error::Http {
                    status: 429 | 503, ..
                },
            ) => Err(e),
            Err(e) => {
                log::info!(
                    "ServiceProviderConfig not available ({e}); using index paging, no filters"
                );
                Ok(Capabilities::default())
            }
        }
    }

    /// Lists one endpoint, handing each new resource to `sink` as its page arrives (`sink` says
    /// whether it was new: a repeat is not counted).
    async fn list(
        &mut self,
        request: &ListRequest<'_>,
        caps: Capabilities,
        sink: &mut (dyn FnMut(Value) -> bool + Send),
    ) -> Result<()> {
        let mut pager = Pager::new(self.config.page_size, caps.cursor, self.config.max_entries);
        while let Some(params) = pager.next_params() {
            let mut url = self.url(request.endpoint)?;
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in &params {
                    q.append_pair(k, v);
                }
                if let Some(filter) = &request.filter {
                    q.append_pair("filter", filter);
                }
                if request.exclude_members {
                    q.append_pair("excludedAttributes", "members");
                }
            }
            let what = format!("{} page {}", request.endpoint, pager.pages + 1);
            let body = self.get_body(url, &what).await?;
            let fail = |e: String| Error::Source(format!("{}: {e}", request.endpoint));
            pager.start_page().map_err(fail)?;
            let mut json = serde_json::Deserializer::from_slice(&body);
            let page = PageSeed { sink: &mut *sink }
                .deserialize(&mut json)
                .and_then(|page| json.end().map(|()| page))
                .map_err(|e| Error::Source(format!("{what}: not valid JSON: {e}")))?;
            pager.finish_page(page).map_err(fail)?;
        }
        if let Some(warning) = pager.warning() {
            log::warn!("{}: {warning}", request.endpoint);
        }
        Ok(())
    }

    /// Lists one endpoint into a list of resources, repeats left out.
    async fn list_values(
        &mut self,
        request: &ListRequest<'_>,
        caps: Capabilities,
    ) -> Result<Vec<Value>> {
        let mut seen = HashSet::new();
        let mut items = Vec::new();
        let mut sink = |r: Value| {
            let new = match r.get("id").and_then(Value::as_str) {
                Some(id) => seen.insert(id.to_string()),
                // No id: the mapping reports it; it cannot be a repeat we could recognise.
                None => true,
            };
            if new {
                items.push(r);
            }
            new
        };
        self.list(request, caps, &mut sink).await?;
        Ok(items)
    }

    /// Fills in the members of each group, one request per group.
    async fn fetch_members(&mut self, groups: &mut [Value]) -> Result<()> {
        for group in groups.iter_mut() {
            let Some(id) = group.get("id").and_then(Value::as_str).map(str::to_string) else {
                continue;
            };
            let mut url = self.url("Groups")?;
            url.path_segments_mut()
                .map_err(|()| Error::Source("directory.url cannot take a path".into()))?
                .push(&id);
            url.query_pairs_mut().append_pair("attributes", "members");
            let what = format!("members of group {}", crate::scim::printable(&id));
            let full = self.get_json(url, &what).await?;
            let members = full
                .get("members")
                .cloned()
                .unwrap_or(Value::Array(Vec::new()));
            if let Some(object) = group.as_object_mut() {
                object.insert("members".into(), members);
            }
        }
        Ok(())
    }

    async fn list_both(
        &mut self,
        filter: Option<String>,
        caps: Capabilities,
    ) -> Result<(Vec<Value>, Vec<Value>)> {
        let per_group = self.config.group_members == GroupMembers::PerGroup;
        let users = self
            .list_values(
                &ListRequest {
                    endpoint: "Users",
                    filter: filter.clone(),
                    exclude_members: false,
                },
                caps,
            )
            .await?;
        let mut groups = self
            .list_values(
                &ListRequest {
                    endpoint: "Groups",
                    filter,
                    exclude_members: per_group,
                },
                caps,
            )
            .await?;
        if per_group {
            self.fetch_members(&mut groups).await?;
        }
        Ok((users, groups))
    }

    /// A full listing straight into records: each page is projected before the next is fetched.
    async fn list_projected(
        &mut self,
        caps: Capabilities,
        projector: &Projector,
    ) -> Result<Records> {
        let per_group = self.config.group_members == GroupMembers::PerGroup;
        let mut records = Records::default();
        let users = ListRequest {
            endpoint: "Users",
            filter: None,
            exclude_members: false,
        };
        self.list(&users, caps, &mut |r| records.add_user(projector, &r, true))
            .await?;
        let groups = ListRequest {
            endpoint: "Groups",
            filter: None,
            exclude_members: per_group,
        };
        if per_group {
            // Listed without members (small), then completed and projected one by one.
            let mut groups = self.list_values(&groups, caps).await?;
            self.fetch_members(&mut groups).await?;
            for g in groups {
                records.add_group(projector, &g, true);
            }
        } else {
            self.list(&groups, caps, &mut |r| {
                records.add_group(projector, &r, true)
            })
            .await?;
        }
        Ok(records)
    }

    async fn fetch_all(&mut self, projector: &Projector) -> Result<Records> {
        self.bytes_this_sync = 0;
        let caps = self.capabilities().await?;
        let delta_due = self.config.delta
            && !self.delta_refused
            && caps.filter
            && self.known.as_ref().is_some_and(|k| {
                k.newest_change.is_some()
                    && k.full_at.elapsed() < Duration::from_secs(self.config.full_sync_interval)
            });
        if delta_due {
            let since = self
                .known
                .as_ref()
                .and_then(|k| k.newest_change)
                .map(|t| t - DELTA_OVERLAP)
                .and_then(|t| t.format(&Rfc3339).ok());
            if let Some(since) = since {
                let filter = format!("meta.lastModified gt \"{since}\"");
                let (users, groups) = match self.list_both(Some(filter), caps).await {
                    Ok(listed) => listed,
                    // Servers that filter, but not on meta.lastModified, answer 400
                    // (invalidFilter) or 501: list in full, now and from now on.
                    Err(Error::Http {
                        status: status @ (400 | 501),
                        ..
                    }) => {
                        log::warn!(
                            "the directory refused a meta.lastModified filter (HTTP {status}): \
                             delta sync is off, every sync lists in full until usherd is reloaded"
                        );
                        self.delta_refused = true;
                        self.known = None;
                        return self.full_listing(caps, projector).await;
                    }
                    Err(e) => return Err(e),
                };
                log::info!(
                    "delta sync: {} changed users, {} changed groups",
                    users.len(),
                    groups.len()
                );
                if let Some(known) = self.known.as_mut() {
                    known.newest_change = newest_change(&users, &groups).max(known.newest_change);
                    for u in users {
                        if let Some(id) = resource_id(&u) {
                            known.users.insert(id, u);
                        }
                    }
                    for g in groups {
                        if let Some(id) = resource_id(&g) {
                            known.groups.insert(id, g);
                        }
                    }
                    let data = DirectoryData {
                        users: known.users.values().cloned().collect(),
                        groups: known.groups.values().cloned().collect(),
                    };
                    return Ok(project(data, projector));
                }
            }
        }
        self.full_listing(caps, projector).await
    }

    /// Lists everything; with `delta` on, keeps the listing for the delta syncs that follow.
    async fn full_listing(&mut self, caps: Capabilities, projector: &Projector) -> Result<Records> {
        if !self.config.delta || self.delta_refused {
            return self.list_projected(caps, projector).await;
        }
        let (users, groups) = self.list_both(None, caps).await?;
        {
            self.known = Some(Known {
                newest_change: newest_change(&users, &groups),
                users: users
                    .iter()
                    .filter_map(|u| Some((resource_id(u)?, u.clone())))
                    .collect(),
                groups: groups
                    .iter()
                    .filter_map(|g| Some((resource_id(g)?, g.clone())))
                    .collect(),
                full_at: Instant::now(),
            });
        }
        Ok(project(DirectoryData { users, groups }, projector))
    }
}

/// A `Retry-After` value (RFC 9110 §10.2.3) as a wait from `now`: delay-seconds, or an HTTP-date
/// (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`); a date in the past is no wait.
fn parse_retry_after(value: &str, now: OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let imf_fixdate = time::format_description::parse_borrowed::<2>(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT",
    )
    .ok()?;
    let at = time::PrimitiveDateTime::parse(value, &imf_fixdate)
        .ok()?
        .assume_utc();
    Some(Duration::try_from(at - now).unwrap_or(Duration::ZERO))
}

fn resource_id(r: &Value) -> Option<String> {
    r.get("id").and_then(Value::as_str).map(str::to_string)
}

fn newest_change(users: &[Value], groups: &[Value]) -> Option<OffsetDateTime> {
    users
        .iter()
        .chain(groups)
        .filter_map(|r| {
            crate::scim::string_attribute(r, "meta.lastModified")
                .ok()
                .flatten()
        })
        .filter_map(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
        .max()
}

impl Source for ScimSource {
    fn fetch<'a>(&'a mut self, projector: &'a Projector) -> FetchFuture<'a> {
        Box::pin(self.fetch_all(projector))
    }
}

/// What one list page said. Its resources went to the sink as they were parsed, one at a time,
/// so a page is never held as one JSON tree.
#[derive(Debug, Default)]
struct PageSummary {
    not_an_object: bool,
    resources_not_a_list: bool,
    /// Resources on the page, and how many of them the sink took as new.
    listed: usize,
    new: usize,
    total: Option<u64>,
    next_cursor: Option<String>,
}

/// Reads a list response (`{"totalResults": …, "Resources": […], "nextCursor": …}`).
struct PageSeed<'s> {
    sink: &'s mut (dyn FnMut(Value) -> bool + Send),
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_> {
    type Value = PageSummary;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<PageSummary, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_> {
    type Value = PageSummary;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a SCIM list response")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<PageSummary, A::Error> {
        let mut page = PageSummary::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "Resources" => {
                    let (listed, new, is_list) = map.next_value_seed(ResourcesSeed {
                        sink: &mut *self.sink,
                    })?;
                    page.listed += listed;
                    page.new += new;
                    page.resources_not_a_list |= !is_list;
                }
                "totalResults" => page.total = map.next_value::<Value>()?.as_u64(),
                "nextCursor" => {
                    page.next_cursor = map.next_value::<Value>()?.as_str().map(str::to_string)
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(page)
    }

    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<PageSummary, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(PageSummary {
            not_an_object: true,
            ..PageSummary::default()
        })
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<PageSummary, E> {
        Ok(PageSummary {
            not_an_object: true,
            ..PageSummary::default()
        })
    }
    fn visit_i64<E>(self, _: i64) -> std::result::Result<PageSummary, E> {
        Ok(PageSummary {
            not_an_object: true,
            ..PageSummary::default()
        })
    }
    fn visit_u64<E>(self, _: u64) -> std::result::Result<PageSummary, E> {
        Ok(PageSummary {
            not_an_object: true,
            ..PageSummary::default()
        })
    }
    fn visit_f64<E>(self, _: f64) -> std::result::Result<PageSummary, E> {
        Ok(PageSummary {
            not_an_object: true,
            ..PageSummary::default()
        })
    }
    fn visit_str<E>(self, _: &str) -> std::result::Result<PageSummary, E> {
        Ok(PageSummary {
            not_an_object: true,
            ..PageSummary::default()
        })
    }
    fn visit_unit<E>(self) -> std::result::Result<PageSummary, E> {
        Ok(PageSummary {
            not_an_object: true,
            ..PageSummary::default()
        })
    }
}

/// A page's `Resources`: each element is handed to the sink as soon as it is parsed. Yields
/// (listed, new, whether it was a list or null).
struct ResourcesSeed<'s> {
    sink: &'s mut (dyn FnMut(Value) -> bool + Send),
}

impl<'de> DeserializeSeed<'de> for ResourcesSeed<'_> {
    type Value = (usize, usize, bool);

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ResourcesSeed<'_> {
    type Value = (usize, usize, bool);

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of SCIM resources")
    }

    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let (mut listed, mut new) = (0, 0);
        while let Some(resource) = seq.next_element::<Value>()? {
            listed += 1;
            if (self.sink)(resource) {
                new += 1;
            }
        }
        Ok((listed, new, true))
    }

    fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
        Ok((0, 0, true))
    }
    fn visit_none<E>(self) -> std::result::Result<Self::Value, E> {
        Ok((0, 0, true))
    }
    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok((0, 0, false))
    }
    fn visit_bool<E>(self, _: bool) -> std::result::Result<Self::Value, E> {
        Ok((0, 0, false))
    }
    fn visit_i64<E>(self, _: i64) -> std::result::Result<Self::Value, E> {
        Ok((0, 0, false))
    }
    fn visit_u64<E>(self, _: u64) -> std::result::Result<Self::Value, E> {
        Ok((0, 0, false))
    }
    fn visit_f64<E>(self, _: f64) -> std::result::Result<Self::Value, E> {
        Ok((0, 0, false))
    }
    fn visit_str<E>(self, _: &str) -> std::result::Result<Self::Value, E> {
        Ok((0, 0, false))
    }
}

/// Paging through one listing: which page to ask for next, and when the listing is complete.
/// Kept apart from HTTP so every way a server can misbehave is unit-tested.
struct Pager {
    page_size: u32,
    /// `Some` in cursor mode: the cursor for the next page (`""` asks for the first).
    cursor: Option<String>,
    start_index: u64,
    done: bool,
    pages: u64,
    max_entries: usize,
    /// New resources handed on so far.
    items: usize,
    announced_total: Option<u64>,
}

impl Pager {
    fn new(page_size: u32, cursor: bool, max_entries: usize) -> Self {
        Pager {
            page_size,
            cursor: cursor.then(String::new),
            start_index: 1,
            done: false,
            pages: 0,
            max_entries,
            items: 0,
            announced_total: None,
        }
    }

    fn next_params(&self) -> Option<Vec<(&'static str, String)>> {
        if self.done {
            return None;
        }
        let mut params = vec![("count", self.page_size.to_string())];
        match &self.cursor {
            Some(cursor) => params.push(("cursor", cursor.clone())),
            None => params.push(("startIndex", self.start_index.to_string())),
        }
        Some(params)
    }

    /// Takes one page, handing its resources to `sink`, which says whether each was new.
    #[cfg(test)]
    fn accept(
        &mut self,
        page: Value,
        sink: &mut (dyn FnMut(Value) -> bool + Send),
    ) -> std::result::Result<(), String> {
        use serde::de::DeserializeSeed;
        self.start_page()?;
        let summary = PageSeed { sink }
            .deserialize(page)
            .map_err(|e| e.to_string())?;
        self.finish_page(summary)
    }

    /// Counts a page about to be read: every page must bring something new, so a listing ends
    /// within max_entries pages.
    fn start_page(&mut self) -> std::result::Result<(), String> {
        self.pages += 1;
        if self.pages > self.max_entries as u64 + 1 {
            return Err(format!("more than {} pages", self.max_entries + 1));
        }
        Ok(())
    }

    /// Takes what a page said, its resources already handed on.
    fn finish_page(&mut self, page: PageSummary) -> std::result::Result<(), String> {
        if page.not_an_object {
            return Err("a page is not a JSON object".into());
        }
        if page.resources_not_a_list {
            return Err("\"Resources\" is not a list".into());
        }
        if let Some(total) = page.total {
            self.announced_total = Some(total);
        }
        self.items += page.new;
        if self.items > self.max_entries {
            return Err(format!("more than {} entries", self.max_entries));
        }
        if page.listed == 0 {
            self.done = true;
            return Ok(());
        }
        if page.new == 0 {
            // Some servers answer a page past the end with the first page again (SCIMMY): once
            // the announced total has arrived, a page of repeats is the end. Before it, the
            // server is paging in circles.
            if self
                .announced_total
                .is_some_and(|total| self.items as u64 >= total)
            {
                self.done = true;
                return Ok(());
            }
            return Err(format!(
                "page {} repeats entries already listed (the server pages endlessly)",
                self.pages
            ));
        }
        match &mut self.cursor {
            Some(cursor) => match page.next_cursor {
                Some(next) if !next.is_empty() => *cursor = next,
                _ => self.done = true,
            },
            None => self.start_index += page.listed as u64,
        }
        Ok(())
    }

    /// Something odd but not fatal about a finished listing.
    fn warning(&self) -> Option<String> {
        match self.announced_total {
            Some(total) if (self.items as u64) < total => Some(format!(
                "the listing ended at {} entries although the server announced {total}",
                self.items
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(ids: std::ops::Range<u32>, total: u64) -> Value {
        let resources: Vec<Value> = ids.map(|i| json!({"id": format!("u{i}")})).collect();
        json!({"totalResults": total, "Resources": resources})
    }

    /// A sink that takes each id once, as `list_values` does.
    fn sink() -> impl FnMut(Value) -> bool + Send {
        let mut seen = HashSet::new();
        move |r: Value| match r.get("id").and_then(Value::as_str) {
            Some(id) => seen.insert(id.to_string()),
            None => true,
        }
    }

    fn run(pager: &mut Pager, pages: &[Value]) -> std::result::Result<usize, String> {
        let mut served = 0;
        let mut sink = sink();
        while pager.next_params().is_some() {
            let page = pages.get(served).cloned().unwrap_or(json!({}));
            served += 1;
            pager.accept(page, &mut sink)?;
        }
        Ok(served)
    }

    #[test]
    fn index_paging_follows_short_pages_and_ends_at_an_empty_one() {
        let mut pager = Pager::new(100, false, 1000);
        // The server caps count at 2, below what was asked.
        let pages = [page(0..2, 5), page(2..4, 5), page(4..5, 5)];
        assert_eq!(
            pager.next_params().unwrap()[1],
            ("startIndex", "1".to_string())
        );
        let served = run(&mut pager, &pages).unwrap();
        assert_eq!(
            served, 4,
            "three pages and the empty one that ends the listing"
        );
        assert_eq!(pager.items, 5);
        assert!(pager.warning().is_none());
    }

    #[test]
    fn a_missing_resources_key_is_an_empty_page() {
        let mut pager = Pager::new(10, false, 1000);
        assert_eq!(
            run(&mut pager, &[json!({"totalResults": 0, "itemsPerPage": 0})]).unwrap(),
            1
        );
        assert_eq!(pager.items, 0);
    }

    #[test]
    fn a_lying_total_neither_stops_early_nor_pages_forever() {
        let mut low = Pager::new(2, false, 1000);
        run(&mut low, &[page(0..2, 2), page(2..4, 2)]).unwrap();
        assert_eq!(
            low.items, 4,
            "entries past a too-low total are still listed"
        );
        let mut high = Pager::new(2, false, 1000);
        run(&mut high, &[page(0..2, 1_000_000_000)]).unwrap();
        assert_eq!(high.items, 2);
        assert!(high.warning().unwrap().contains("announced 1000000000"));
    }

    #[test]
    fn endless_paging_and_oversized_listings_fail() {
        let mut pager = Pager::new(2, false, 1000);
        let same = page(0..2, 1_000_000_000);
        let err = run(&mut pager, &[same.clone(), same.clone(), same]).unwrap_err();
        assert!(err.contains("repeats"), "{err}");
        let mut pager = Pager::new(2, false, 3);
        let err = run(&mut pager, &[page(0..2, 9), page(2..4, 9)]).unwrap_err();
        assert!(err.contains("more than 3 entries"), "{err}");
        let mut pager = Pager::new(2, false, 3);
        assert!(pager
            .accept(json!({"Resources": "x"}), &mut sink())
            .is_err());
        assert!(pager.accept(json!([1, 2]), &mut sink()).is_err());
    }

    #[test]
    fn a_page_of_repeats_after_the_announced_total_ends_the_listing() {
        // SCIMMY 1.3.5 answers a startIndex past the end with the first page again.
        let mut pager = Pager::new(100, false, 1000);
        let pages = [page(0..100, 250), page(100..200, 250), page(200..250, 250)];
        let mut served = pages.to_vec();
        served.push(page(0..100, 250));
        assert_eq!(run(&mut pager, &served).unwrap(), 4);
        assert_eq!(pager.items, 250);
        assert!(pager.warning().is_none());
        // The same with cursors, and when the total arrived exactly on a full page.
        let mut pager = Pager::new(2, true, 1000);
        let mut first = page(0..2, 2);
        first["nextCursor"] = json!("again");
        let mut again = page(0..2, 2);
        again["nextCursor"] = json!("again");
        assert_eq!(run(&mut pager, &[first, again]).unwrap(), 2);
        assert_eq!(pager.items, 2);
    }

    #[test]
    fn repeats_before_the_total_or_new_entries_past_it_stay_bounded() {
        // Repeats while entries are still missing: the server pages in circles.
        let mut pager = Pager::new(2, false, 1000);
        let err = run(&mut pager, &[page(0..2, 5), page(2..4, 5), page(0..2, 5)]).unwrap_err();
        assert!(err.contains("page 3 repeats"), "{err}");
        // No total announced: a page of repeats is never taken as the end.
        let bare = |ids: std::ops::Range<u32>| {
            let mut p = page(ids, 0);
            p.as_object_mut().unwrap().remove("totalResults");
            p
        };
        let mut pager = Pager::new(2, false, 1000);
        let err = run(&mut pager, &[bare(0..2), bare(0..2)]).unwrap_err();
        assert!(err.contains("repeats"), "{err}");
        // New entries past the total keep coming: listed, but only up to max_entries.
        let mut pager = Pager::new(2, false, 5);
        let endless: Vec<Value> = (0..10).map(|i| page(i * 2..i * 2 + 2, 2)).collect();
        let err = run(&mut pager, &endless).unwrap_err();
        assert!(err.contains("more than 5 entries"), "{err}");
        // A page mixing repeats and new entries past the total is followed, not ended.
        let mut pager = Pager::new(2, false, 1000);
        run(&mut pager, &[page(0..2, 2), page(1..3, 2)]).unwrap();
        assert_eq!(pager.items, 3);
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        // Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example date.
        let now = OffsetDateTime::from_unix_timestamp(784_111_777).unwrap();
        let s = Duration::from_secs;
        assert_eq!(parse_retry_after(" 120 ", now), Some(s(120)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now),
            Some(s(60))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:40:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn cursor_paging_follows_next_cursor() {
        let mut pager = Pager::new(2, true, 1000);
        assert_eq!(pager.next_params().unwrap()[1], ("cursor", String::new()));
        let mut first = page(0..2, 3);
        first["nextCursor"] = json!("abc");
        pager.accept(first, &mut sink()).unwrap();
        assert_eq!(
            pager.next_params().unwrap()[1],
            ("cursor", "abc".to_string())
        );
        pager.accept(page(2..3, 3), &mut sink()).unwrap();
        assert!(pager.next_params().is_none());
        assert_eq!(pager.items, 3);
    }
}
