//! Request ids and the one log line per request.
//!
//! Every request gets an id: the trace id of a valid W3C `traceparent`, else
//! a sane `x-request-id`, else a new random one of 32 hex digits (so that it
//! can also be a trace id). The id is echoed in the `x-request-id` response
//! header, sent on every call to another service (`x-request-id`, and
//! `traceparent` with the same trace id and a new parent span id), recorded
//! in every event the request causes, and written in the request's one JSON
//! log line on stderr.
//!
//! A component instance serves one request (a WASI 0.2 component under
//! Spin 4), so the request being served is kept in one per-thread slot that
//! [`begin`] resets.

use serde::Serialize;
use std::cell::RefCell;
use std::collections::HashSet;
use std::io::Write;
use std::time::Instant;

/// The longest `x-request-id` taken from a client.
pub const MAX_REQUEST_ID_LEN: usize = 128;
/// The most event request ids one log line lists; a batch whose events
/// carry more says how many it left out, so that a line stays a few KiB.
pub const MAX_LOGGED_EVENT_REQUESTS: usize = 128;

/// The request being served.
#[derive(Default)]
struct Current {
    id: Option<String>,
    /// The trace flags to send on: the client's, when the id is the trace id
    /// of its `traceparent`.
    flags: u8,
    started: Option<Instant>,
    route: Option<&'static str>,
    /// Set when the request carried a batch of events.
    batch: Option<Batch>,
}

/// What a batch of events carried.
#[derive(Default)]
struct Batch {
    events: usize,
    request_ids: Vec<String>,
    omitted: usize,
}

thread_local! {
    static CURRENT: RefCell<Current> = RefCell::new(Current::default());
}

/// Starts serving a request whose headers have these `traceparent` and
/// `x-request-id` values (pass a header only when it was sent once), and
/// returns its id.
pub fn begin(traceparent: Option<&str>, x_request_id: Option<&str>) -> String {
    let (id, flags) = identify(traceparent, x_request_id);
    CURRENT.with_borrow_mut(|current| {
        *current = Current {
            id: Some(id.clone()),
            flags,
            started: Some(Instant::now()),
            ..Current::default()
        }
    });
    id
}

/// The request being served, taken out while it waits: a WASIp3 instance
/// serves other requests meanwhile, each with its own. [`resume`] puts it
/// back.
pub struct Suspended(Current);

/// Takes the request being served out of this instance, before an await at
/// which the instance may serve another.
pub fn suspend() -> Suspended {
    Suspended(CURRENT.take())
}

/// Serves `suspended` again, after the await.
pub fn resume(suspended: Suspended) {
    CURRENT.set(suspended.0);
}

/// The id and trace flags of a request with these headers: the trace id of
/// a valid `traceparent`, else a sane `x-request-id`, else a new id.
pub fn identify(traceparent: Option<&str>, x_request_id: Option<&str>) -> (String, u8) {
    if let Some((trace_id, flags)) = traceparent.and_then(parse_traceparent) {
        return (trace_id.to_string(), flags);
    }
    match x_request_id
        .map(trim_ows)
        .filter(|id| is_sane_request_id(id))
    {
        Some(id) => (id.to_string(), 0),
        None => (new_trace_id(), 0),
    }
}

/// The trace id and flags of a valid W3C `traceparent` (Trace Context
/// level 1): `00-<32 hex>-<16 hex>-<2 hex>`, lowercase, neither id all
/// zeros. A later version is read the same way, ignoring what follows its
/// fourth field; version `ff` is invalid.
pub fn parse_traceparent(value: &str) -> Option<(&str, u8)> {
    let value = trim_ows(value);
    if !value.is_ascii() {
        return None;
    }
    let bytes = value.as_bytes();
    let version = value.get(0..2)?;
    if !is_lower_hex(version) || version == "ff" {
        return None;
    }
    // Version 00 is exactly 55 characters; a later one may add fields.
    let fits = if version == "00" {
        bytes.len() == 55
    } else {
        bytes.len() == 55 || (bytes.len() > 55 && bytes[55] == b'-')
    };
    if !fits || bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
        return None;
    }
    let (trace_id, parent_id, flags) = (&value[3..35], &value[36..52], &value[53..55]);
    if !is_trace_id(trace_id) || !is_lower_hex(parent_id) || all_zeros(parent_id) {
        return None;
    }
    if !is_lower_hex(flags) {
        return None;
    }
    Some((trace_id, u8::from_str_radix(flags, 16).ok()?))
}

/// Whether `id` can be a W3C trace id: 32 lowercase hex digits, not all zeros.
pub fn is_trace_id(id: &str) -> bool {
    id.len() == 32 && is_lower_hex(id) && !all_zeros(id)
}

/// Whether a client's `x-request-id` may be used as the request id: 1 to
/// [`MAX_REQUEST_ID_LEN`] characters from `A-Z a-z 0-9 - _ . :` (UUIDs, ULIDs,
/// hex ids and the like), so nothing a client sends can forge a log line.
pub fn is_sane_request_id(id: &str) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The id of the request being served, if one is.
pub fn request_id() -> Option<String> {
    CURRENT.with_borrow(|current| current.id.clone())
}

/// The headers that carry the request's id on a call to another service:
/// `x-request-id`, and `traceparent` (same trace id, a new parent span id,
/// the client's flags) when the id is a trace id.
pub fn outbound_headers() -> Vec<(&'static str, String)> {
    CURRENT.with_borrow(|current| {
        let Some(id) = &current.id else {
            return Vec::new();
        };
        let mut headers = vec![("x-request-id", id.clone())];
        if is_trace_id(id) {
            let traceparent = format!("00-{id}-{}-{:02x}", new_span_id(), current.flags);
            headers.push(("traceparent", traceparent));
        }
        headers
    })
}

/// Notes the pattern of the route that matched (`/posts/:id`), for the log line.
pub fn note_route(pattern: &'static str) {
    CURRENT.with_borrow_mut(|current| current.route = Some(pattern));
}

/// Notes the events of a batch this request carries, for the log line: how
/// many, and the distinct request ids they record (sane ones only: a
/// sender's junk is not written either).
pub fn note_events(events: &[serde_json::Value]) {
    let mut seen = HashSet::new();
    let ids: Vec<&str> = events
        .iter()
        .filter_map(|event| event.get("request_id")?.as_str())
        .filter(|id| is_sane_request_id(id) && seen.insert(*id))
        .collect();
    let batch = Batch {
        events: events.len(),
        omitted: ids.len().saturating_sub(MAX_LOGGED_EVENT_REQUESTS),
        request_ids: ids
            .into_iter()
            .take(MAX_LOGGED_EVENT_REQUESTS)
            .map(str::to_string)
            .collect(),
    };
    CURRENT.with_borrow_mut(|current| current.batch = Some(batch));
}

/// One request's log line.
#[derive(Serialize)]
struct Line<'a> {
    time: String,
    service: &'a str,
    method: &'a str,
    /// The matched route pattern; none when no route matched (404, 405, or
    /// a request refused before routing).
    route: Option<&'a str>,
    status: u16,
    duration_ms: f64,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_request_ids: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_request_ids_omitted: Option<usize>,
}

/// The JSON log line of the request being served, with `status`.
pub fn log_line(service: &str, method: &str, status: u16) -> String {
    CURRENT.with_borrow(|current| {
        let elapsed = current.started.map(|s| s.elapsed()).unwrap_or_default();
        let batch = current.batch.as_ref();
        let line = Line {
            time: crate::ids::now_rfc3339(),
            service,
            method,
            route: current.route,
            status,
            // Microsecond precision: most reads take well under a millisecond.
            duration_ms: elapsed.as_micros() as f64 / 1000.0,
            request_id: current.id.as_deref().unwrap_or_default(),
            events: batch.map(|b| b.events),
            event_request_ids: batch.map(|b| b.request_ids.as_slice()),
            event_request_ids_omitted: batch.map(|b| b.omitted).filter(|n| *n > 0),
        };
        serde_json::to_string(&line).unwrap_or_default()
    })
}

/// Writes the request's log line to stderr, in one write so that lines of
/// concurrent requests never interleave.
pub fn finish(service: &str, method: &str, status: u16) {
    let mut line = log_line(service, method, status);
    line.push('\n');
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// A new random trace id: 32 lowercase hex digits, not all zeros.
pub fn new_trace_id() -> String {
    random_hex::<16>()
}

/// A new random span id: 16 lowercase hex digits, not all zeros.
fn new_span_id() -> String {
    random_hex::<8>()
}

fn random_hex<const N: usize>() -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut bytes = [0u8; N];
    while bytes.iter().all(|b| *b == 0) {
        getrandom::fill(&mut bytes).expect("the host provides randomness");
    }
    bytes
        .iter()
        .flat_map(|b| [DIGITS[(b >> 4) as usize], DIGITS[(b & 15) as usize]])
        .map(char::from)
        .collect()
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn all_zeros(s: &str) -> bool {
    s.bytes().all(|b| b == b'0')
}

/// Without the optional whitespace HTTP allows around a header value.
fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    /// The `x-request-id` this instance would send on now.
    fn sent_id() -> Option<String> {
        outbound_headers()
            .into_iter()
            .find(|(name, _)| *name == "x-request-id")
            .map(|(_, id)| id)
    }

    #[test]
    fn a_suspended_request_keeps_its_id_while_another_is_served() {
        // Arrange: request a waits, as a WASIp3 request reading its body.
        let a = begin(None, Some("request-a"));
        note_route("/posts");
        let waiting = suspend();

        // Act: request b is served meanwhile, then a goes on.
        assert_eq!(sent_id(), None);
        let b = begin(None, Some("request-b"));
        assert_eq!(sent_id().as_deref(), Some(b.as_str()));
        resume(waiting);

        // Assert: a calls out, and logs, as itself.
        assert_eq!(sent_id().as_deref(), Some(a.as_str()));
        let line = log_line("post", "POST", 201);
        assert!(line.contains("\"request_id\":\"request-a\""), "{line}");
        assert!(line.contains("\"route\":\"/posts\""), "{line}");
    }

    #[test]
    fn a_valid_traceparent_gives_its_trace_id_and_flags() {
        let header = format!("00-{TRACE}-00f067aa0ba902b7-01");
        assert_eq!(parse_traceparent(&header), Some((TRACE, 1)));
        assert_eq!(parse_traceparent(&format!(" {header}\t")), Some((TRACE, 1)));
        // A later version may carry more fields after the fourth.
        let later = format!("cc-{TRACE}-00f067aa0ba902b7-09-what-comes-next");
        assert_eq!(parse_traceparent(&later), Some((TRACE, 9)));
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        let upper = format!("00-{}-00f067aa0ba902b7-01", TRACE.to_uppercase());
        let zero_trace = format!("00-{}-00f067aa0ba902b7-01", "0".repeat(32));
        let zero_parent = format!("00-{TRACE}-0000000000000000-01");
        let version_ff = format!("ff-{TRACE}-00f067aa0ba902b7-01");
        let v00_longer = format!("00-{TRACE}-00f067aa0ba902b7-01-extra");
        let later_glued = format!("01-{TRACE}-00f067aa0ba902b7-01x");
        let short_trace = format!("00-{}-00f067aa0ba902b7-01", &TRACE[1..]);
        let bad_flags = format!("00-{TRACE}-00f067aa0ba902b7-0g");
        let underscores = format!("00_{TRACE}_00f067aa0ba902b7_01");
        for header in [
            "",
            "00",
            "garbage",
            &upper,
            &zero_trace,
            &zero_parent,
            &version_ff,
            &v00_longer,
            &later_glued,
            &short_trace,
            &bad_flags,
            &underscores,
        ] {
            assert_eq!(parse_traceparent(header), None, "{header}");
        }
    }

    #[test]
    fn a_traceparent_wins_then_a_sane_request_id_then_a_new_id() {
        let traceparent = format!("00-{TRACE}-00f067aa0ba902b7-01");
        assert_eq!(
            identify(Some(&traceparent), Some("client-id-1")),
            (TRACE.to_string(), 1)
        );
        assert_eq!(
            identify(Some("00-nonsense"), Some("client-id-1")),
            ("client-id-1".to_string(), 0)
        );
        let (fresh, flags) = identify(None, Some("no spaces allowed"));
        assert!(is_trace_id(&fresh) && flags == 0, "{fresh}");
        let (other, _) = identify(None, None);
        assert!(is_trace_id(&other) && other != fresh);
    }

    #[test]
    fn only_short_ids_of_safe_characters_are_sane() {
        for id in [
            "a",
            "123e4567-e89b-12d3-a456-426614174000",
            "01J0X5Z:req.7_b",
            &"x".repeat(MAX_REQUEST_ID_LEN),
        ] {
            assert!(is_sane_request_id(id), "{id}");
        }
        for id in [
            "",
            "has space",
            "quote\"",
            "brace}",
            "new\nline",
            "é",
            &"x".repeat(MAX_REQUEST_ID_LEN + 1),
        ] {
            assert!(!is_sane_request_id(id), "{id}");
        }
    }

    #[test]
    fn calls_to_other_services_carry_the_id_in_a_new_span_of_the_same_trace() {
        begin(Some(&format!("00-{TRACE}-00f067aa0ba902b7-01")), None);
        let headers = outbound_headers();
        assert_eq!(headers[0], ("x-request-id", TRACE.to_string()));
        let (name, traceparent) = &headers[1];
        assert_eq!(*name, "traceparent");
        assert_eq!(parse_traceparent(traceparent), Some((TRACE, 1)));
        assert_ne!(&traceparent[36..52], "00f067aa0ba902b7");
        assert_ne!(outbound_headers()[1].1, *traceparent, "a new span per call");

        // An id that cannot be a trace id travels alone.
        begin(None, Some("client-id-1"));
        assert_eq!(
            outbound_headers(),
            vec![("x-request-id", "client-id-1".to_string())]
        );
    }

    #[test]
    fn the_log_line_names_service_route_status_duration_and_id() {
        let id = begin(None, Some("req-1"));
        note_route("/posts/:id");
        let line: serde_json::Value = serde_json::from_str(&log_line("post", "GET", 200)).unwrap();
        assert_eq!(line["service"], "post");
        assert_eq!(line["method"], "GET");
        assert_eq!(line["route"], "/posts/:id");
        assert_eq!(line["status"], 200);
        assert_eq!(line["request_id"], id);
        assert!(line["duration_ms"].as_f64().unwrap() >= 0.0);
        assert!(line["time"].as_str().unwrap().ends_with('Z'));
        assert!(line.get("events").is_none());

        // A new request starts from nothing.
        begin(None, None);
        let line: serde_json::Value = serde_json::from_str(&log_line("post", "GET", 404)).unwrap();
        assert_eq!(line["route"], serde_json::Value::Null);
        assert_ne!(line["request_id"], id);
    }

    #[test]
    fn a_batch_line_lists_the_distinct_sane_request_ids_its_events_carry() {
        begin(None, Some("deliverer"));
        let events: Vec<serde_json::Value> = [
            serde_json::json!({"id": "1", "request_id": "a"}),
            serde_json::json!({"id": "2", "request_id": "b"}),
            serde_json::json!({"id": "3", "request_id": "a"}),
            serde_json::json!({"id": "4"}),
            serde_json::json!({"id": "5", "request_id": null}),
            serde_json::json!({"id": "6", "request_id": "\"}{junk"}),
        ]
        .into();
        note_events(&events);
        let line: serde_json::Value = serde_json::from_str(&log_line("feed", "POST", 204)).unwrap();
        assert_eq!(line["request_id"], "deliverer");
        assert_eq!(line["events"], 6);
        assert_eq!(line["event_request_ids"], serde_json::json!(["a", "b"]));
        assert!(line.get("event_request_ids_omitted").is_none());
    }

    #[test]
    fn a_batch_of_many_requests_lists_some_and_counts_the_rest() {
        begin(None, None);
        let events: Vec<serde_json::Value> = (0..MAX_LOGGED_EVENT_REQUESTS + 5)
            .map(|n| serde_json::json!({"request_id": format!("r{n}")}))
            .collect();
        note_events(&events);
        let line: serde_json::Value = serde_json::from_str(&log_line("feed", "POST", 204)).unwrap();
        let listed = line["event_request_ids"].as_array().unwrap();
        assert_eq!(listed.len(), MAX_LOGGED_EVENT_REQUESTS);
        assert_eq!(line["event_request_ids_omitted"], 5);
    }
}
