//! Okta's paging (`Link: <…>; rel="next"`, cursor `after`) and rate-limit headers
//! (`X-Rate-Limit-Limit/-Remaining/-Reset`), kept apart from HTTP so each decision is unit-tested.

use reqwest::header::HeaderMap;
use reqwest::Url;
use serde_json::Value;
use std::collections::HashSet;
use std::time::Duration;

/// The target of the `rel="next"` link among the values of `Link` headers (RFC 8288): Okta sends
/// `self` and `next` as two headers, others send one comma-separated header.
pub fn next_link<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<String> {
    values.into_iter().find_map(next_in_value)
}

fn next_in_value(value: &str) -> Option<String> {
    let mut rest = value;
    loop {
        let start = rest.find('<')?;
        let end = start + rest[start..].find('>')?;
        let target = &rest[start + 1..end];
        // Parameters run to the next comma outside quotes.
        let after = &rest[end + 1..];
        let mut in_quotes = false;
        let mut stop = after.len();
        for (i, c) in after.char_indices() {
            match c {
                '"' => in_quotes = !in_quotes,
                ',' if !in_quotes => {
                    stop = i;
                    break;
                }
                _ => {}
            }
        }
        let params = &after[..stop];
        let is_next = params.split(';').any(|param| {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.trim().to_string());
        }
        rest = after.get(stop + 1..)?;
    }
}

/// Where a `next` link may lead: the org itself (scheme, host, port) and the path being listed.
/// Anything else would carry the token elsewhere, or page through a different listing.
pub fn check_next(org: &Url, current: &Url, next: &str) -> Result<Url, String> {
    let url = current
        .join(next)
        .map_err(|e| format!("the next link is not a URL: {e}"))?;
    if url.scheme() != org.scheme()
        || url.host_str() != org.host_str()
        || url.port_or_known_default() != org.port_or_known_default()
    {
        return Err(format!(
            "the next link leads away from the org ({}); not followed",
            crate::scim::printable(url.origin().ascii_serialization().as_str())
        ));
    }
    if url.path() != current.path() {
        return Err(format!(
            "the next link leads to another listing ({}); not followed",
            crate::scim::printable(url.path())
        ));
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err("the next link carries credentials or a fragment; not followed".into());
    }
    Ok(url)
}

/// Paging through one listing: when it is complete, and when the server misbehaves.
pub struct Pager {
    items: Vec<Value>,
    seen: HashSet<String>,
    visited: HashSet<String>,
    pages: u64,
    max_entries: usize,
}

impl Pager {
    pub fn new(max_entries: usize) -> Self {
        Pager {
            items: Vec::new(),
            seen: HashSet::new(),
            visited: HashSet::new(),
            pages: 0,
            max_entries,
        }
    }

    pub fn pages(&self) -> u64 {
        self.pages
    }

    pub fn into_items(self) -> Vec<Value> {
        self.items
    }

    /// Takes one page and its `next` link; `Ok(true)` when another page is to be fetched. The end
    /// of a listing is the first page without a `next` link.
    pub fn accept(&mut self, page: &Value, next: Option<&Url>) -> Result<bool, String> {
        self.pages += 1;
        if self.pages > self.max_entries as u64 + 1 {
            return Err(format!("more than {} pages", self.max_entries + 1));
        }
        let Value::Array(items) = page else {
            return Err("a page is not a JSON list".into());
        };
        let mut new = 0;
        for item in items {
            let fresh = match item.get("id").and_then(Value::as_str) {
                Some(id) => self.seen.insert(id.to_string()),
                None => true,
            };
            if fresh {
                self.items.push(item.clone());
                new += 1;
            }
        }
        if self.items.len() > self.max_entries {
            return Err(format!("more than {} entries", self.max_entries));
        }
        let Some(next) = next else {
            return Ok(false);
        };
        if items.is_empty() {
            return Err(format!(
                "page {} is empty but links to a next page",
                self.pages
            ));
        }
        if new == 0 {
            return Err(format!(
                "page {} repeats entries already listed (the server pages endlessly)",
                self.pages
            ));
        }
        if !self.visited.insert(next.as_str().to_string()) {
            return Err(format!(
                "page {} links back to a page already fetched",
                self.pages
            ));
        }
        Ok(true)
    }
}

/// Okta's rate-limit buckets, as far as one sync touches them (each has its own headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// `/api/v1/groups` (search) and `/api/v1/groups/{id}/users`: "except /api/v1/groups/{id}".
    Groups,
    /// `/api/v1/groups/{id}`.
    GroupById,
    /// `GET /api/v1/users` (list, search).
    Users,
    /// `/oauth2/v1/token`.
    Token,
    Other,
}

impl std::fmt::Display for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Bucket::Groups => "/api/v1/groups",
            Bucket::GroupById => "/api/v1/groups/{id}",
            Bucket::Users => "/api/v1/users",
            Bucket::Token => "/oauth2/v1/token",
            Bucket::Other => "/api/v1",
        })
    }
}

pub fn bucket(path: &str) -> Bucket {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        ["oauth2", "v1", "token"] => Bucket::Token,
        ["api", "v1", "groups"] | ["api", "v1", "groups", _, "users"] => Bucket::Groups,
        ["api", "v1", "groups", _] => Bucket::GroupById,
        ["api", "v1", "users"] => Bucket::Users,
        _ => Bucket::Other,
    }
}

/// The three rate-limit headers of one response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateHeaders {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// UTC epoch seconds.
    pub reset: Option<i64>,
}

pub fn rate_headers(headers: &HeaderMap) -> RateHeaders {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
    };
    RateHeaders {
        limit: number("x-rate-limit-limit").and_then(|n| u64::try_from(n).ok()),
        remaining: number("x-rate-limit-remaining").and_then(|n| u64::try_from(n).ok()),
        reset: number("x-rate-limit-reset"),
    }
}

/// The requests of a window kept back for everything else in the org: a tenth, at least one.
pub fn reserve(limit: u64) -> u64 {
    (limit / 10).max(1)
}

/// Whether to pause before the next request in a bucket, and how long: when the window has no
/// more than its reserve left, until it resets. `server_now` is the server's clock (its `Date`).
pub fn wait_before(h: &RateHeaders, server_now: i64) -> Option<Duration> {
    let (limit, remaining, reset) = (h.limit?, h.remaining?, h.reset?);
    // A limit of 0 reports a concurrency limit (only ever on a 429).
    if limit == 0 || remaining > reserve(limit) || reset <= server_now {
        return None;
    }
    u64::try_from(reset - server_now)
        .ok()
        .map(Duration::from_secs)
}

/// How long to wait after a 429 before trying again: until `X-Rate-Limit-Reset` (and any
/// `Retry-After`), at least a second; doubling from one second when Okta gave no reset time.
pub fn wait_after_429(
    h: &RateHeaders,
    retry_after: Option<u64>,
    server_now: i64,
    attempt: u32,
) -> Duration {
    let until_reset = match h.reset {
        Some(reset) => u64::try_from(reset - server_now).unwrap_or(0),
        None => 1u64 << attempt.min(6),
    };
    Duration::from_secs(until_reset.max(retry_after.unwrap_or(0)).max(1))
}

/// An HTTP date (RFC 9110 IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`) as epoch seconds.
pub fn http_date(value: &str) -> Option<i64> {
    let fields: Vec<&str> = value.split_ascii_whitespace().collect();
    let [_, day, month, year, clock, "GMT"] = fields.as_slice() else {
        return None;
    };
    let month = match *month {
        "Jan" => time::Month::January,
        "Feb" => time::Month::February,
        "Mar" => time::Month::March,
        "Apr" => time::Month::April,
        "May" => time::Month::May,
        "Jun" => time::Month::June,
        "Jul" => time::Month::July,
        "Aug" => time::Month::August,
        "Sep" => time::Month::September,
        "Oct" => time::Month::October,
        "Nov" => time::Month::November,
        "Dec" => time::Month::December,
        _ => return None,
    };
    let mut hms = clock.split(':').map(|p| p.parse::<u8>().ok());
    let (Some(Some(h)), Some(Some(m)), Some(Some(s)), None) =
        (hms.next(), hms.next(), hms.next(), hms.next())
    else {
        return None;
    };
    let date = time::Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()?;
    let time = time::Time::from_hms(h, m, s).ok()?;
    Some(date.with_time(time).assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn link_headers_as_okta_and_others_send_them() {
        let okta = [
            r#"<https://x.okta.com/api/v1/groups/00g1/users?limit=2>; rel="self""#,
            r#"<https://x.okta.com/api/v1/groups/00g1/users?after=00u2&limit=2>; rel="next""#,
        ];
        assert_eq!(
            next_link(okta).as_deref(),
            Some("https://x.okta.com/api/v1/groups/00g1/users?after=00u2&limit=2")
        );
        assert_eq!(next_link([okta[0]]), None, "no next: the last page");
        let combined =
            r#"<https://a/x?p=1,2>; rel="self", <https://a/x?after=b>; title="a, b"; rel=next"#;
        assert_eq!(
            next_link([combined]).as_deref(),
            Some("https://a/x?after=b")
        );
        assert_eq!(
            next_link([r#"<https://a/y>; rel="prev next""#]).as_deref(),
            Some("https://a/y")
        );
        assert_eq!(next_link([r#"<https://a/y>; rel="nextish""#]), None);
        assert_eq!(next_link(["garbage", "<unclosed; rel=next"]), None);
        assert_eq!(next_link(Vec::<&str>::new()), None);
    }

    #[test]
    fn next_links_stay_on_the_org_and_the_listing() {
        let org = Url::parse("https://x.okta.com").unwrap();
        let current = Url::parse("https://x.okta.com/api/v1/groups/00g1/users?limit=2").unwrap();
        let ok = check_next(
            &org,
            &current,
            "https://x.okta.com/api/v1/groups/00g1/users?after=a",
        )
        .unwrap();
        assert_eq!(ok.query(), Some("after=a"));
        assert!(check_next(&org, &current, "/api/v1/groups/00g1/users?after=b").is_ok());
        for bad in [
            "https://evil.example/api/v1/groups/00g1/users?after=a",
            "http://x.okta.com/api/v1/groups/00g1/users?after=a",
            "https://x.okta.com:8443/api/v1/groups/00g1/users?after=a",
            "https://x.okta.com/api/v1/groups/00g2/users?after=a",
            "https://user:pw@x.okta.com/api/v1/groups/00g1/users?after=a",
        ] {
            assert!(check_next(&org, &current, bad).is_err(), "{bad}");
        }
    }

    fn page(ids: &[&str]) -> Value {
        Value::Array(ids.iter().map(|id| json!({"id": id})).collect())
    }

    #[test]
    fn pager_ends_at_the_page_without_next() {
        let n1 = Url::parse("https://x/a?after=1").unwrap();
        let n2 = Url::parse("https://x/a?after=2").unwrap();
        let mut pager = Pager::new(100);
        assert!(pager.accept(&page(&["a", "b"]), Some(&n1)).unwrap());
        assert!(pager.accept(&page(&["c", "d"]), Some(&n2)).unwrap());
        assert!(!pager.accept(&page(&["e"]), None).unwrap());
        assert_eq!(pager.pages(), 3);
        assert_eq!(pager.into_items().len(), 5);
        let mut empty = Pager::new(100);
        assert!(!empty.accept(&page(&[]), None).unwrap());
    }

    #[test]
    fn pager_refuses_endless_and_oversized_listings() {
        let n1 = Url::parse("https://x/a?after=1").unwrap();
        let n2 = Url::parse("https://x/a?after=2").unwrap();
        let mut repeat = Pager::new(100);
        repeat.accept(&page(&["a", "b"]), Some(&n1)).unwrap();
        let err = repeat.accept(&page(&["a", "b"]), Some(&n2)).unwrap_err();
        assert!(err.contains("repeats"), "{err}");
        let mut cycle = Pager::new(100);
        cycle.accept(&page(&["a"]), Some(&n1)).unwrap();
        let err = cycle.accept(&page(&["b"]), Some(&n1)).unwrap_err();
        assert!(err.contains("links back"), "{err}");
        let mut empty = Pager::new(100);
        assert!(empty
            .accept(&page(&[]), Some(&n1))
            .unwrap_err()
            .contains("empty"));
        let mut big = Pager::new(3);
        big.accept(&page(&["a", "b"]), Some(&n1)).unwrap();
        let err = big.accept(&page(&["c", "d"]), Some(&n2)).unwrap_err();
        assert!(err.contains("more than 3 entries"), "{err}");
        assert!(Pager::new(3).accept(&json!({"id": "a"}), None).is_err());
    }

    #[test]
    fn buckets_follow_okta_s_table() {
        assert_eq!(bucket("/api/v1/groups"), Bucket::Groups);
        assert_eq!(bucket("/api/v1/groups/00g1/users"), Bucket::Groups);
        assert_eq!(bucket("/api/v1/groups/00g1"), Bucket::GroupById);
        assert_eq!(bucket("/api/v1/users"), Bucket::Users);
        assert_eq!(bucket("/oauth2/v1/token"), Bucket::Token);
        assert_eq!(bucket("/api/v1/apps"), Bucket::Other);
    }

    fn headers(limit: u64, remaining: u64, reset: i64) -> RateHeaders {
        RateHeaders {
            limit: Some(limit),
            remaining: Some(remaining),
            reset: Some(reset),
        }
    }

    #[test]
    fn slow_down_when_a_tenth_of_the_window_is_left() {
        let now = 1_000;
        assert_eq!(wait_before(&headers(600, 61, now + 30), now), None);
        assert_eq!(
            wait_before(&headers(600, 60, now + 30), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            wait_before(&headers(600, 0, now + 5), now),
            Some(Duration::from_secs(5))
        );
        // Small windows keep at least one request back.
        assert_eq!(wait_before(&headers(5, 2, now + 3), now), None);
        assert_eq!(
            wait_before(&headers(5, 1, now + 3), now),
            Some(Duration::from_secs(3))
        );
        // Already reset, a concurrency report, or incomplete headers: go on.
        assert_eq!(wait_before(&headers(600, 0, now), now), None);
        assert_eq!(wait_before(&headers(0, 0, now + 5), now), None);
        assert_eq!(wait_before(&RateHeaders::default(), now), None);
    }

    #[test]
    fn after_a_429_wait_for_the_reset_never_less_than_a_second() {
        let now = 1_000;
        let s = Duration::from_secs;
        assert_eq!(
            wait_after_429(&headers(600, 0, now + 7), None, now, 0),
            s(7)
        );
        assert_eq!(wait_after_429(&headers(600, 0, now), None, now, 0), s(1));
        assert_eq!(
            wait_after_429(&headers(600, 0, now - 50), None, now, 3),
            s(1)
        );
        assert_eq!(
            wait_after_429(&headers(0, 0, now + 2), Some(9), now, 0),
            s(9)
        );
        let none = RateHeaders::default();
        assert_eq!(wait_after_429(&none, None, now, 0), s(1));
        assert_eq!(wait_after_429(&none, None, now, 2), s(4));
        assert_eq!(wait_after_429(&none, None, now, 30), s(64));
    }

    #[test]
    fn rate_headers_and_dates_parse() {
        let mut map = HeaderMap::new();
        map.insert("X-Rate-Limit-Limit", "600".parse().unwrap());
        map.insert("x-rate-limit-remaining", " 598 ".parse().unwrap());
        map.insert("X-Rate-Limit-Reset", "1609459200".parse().unwrap());
        assert_eq!(rate_headers(&map), headers(600, 598, 1_609_459_200));
        map.insert("X-Rate-Limit-Remaining", "-1".parse().unwrap());
        assert_eq!(rate_headers(&map).remaining, None);
        assert_eq!(
            http_date("Fri, 01 Jan 2021 00:00:00 GMT"),
            Some(1_609_459_200)
        );
        assert_eq!(
            http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(http_date("Sun, 06 Nov 1994 08:49:37 +0000"), None);
        assert_eq!(http_date("Sun, 31 Feb 1994 08:49:37 GMT"), None);
    }
}
