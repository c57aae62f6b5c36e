//! Results: one row per workload and mode, printed as a Markdown table and
//! written as JSON.

use crate::load::LoopResult;
use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Latency percentiles, µs.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

impl Percentiles {
    /// The percentiles of `histogram` (all 0 when it is empty).
    pub fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self {
                p50: 0,
                p90: 0,
                p99: 0,
                p999: 0,
                max: 0,
                mean: 0.0,
            };
        }
        Self {
            p50: histogram.value_at_quantile(0.50),
            p90: histogram.value_at_quantile(0.90),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            max: histogram.max(),
            mean: histogram.mean(),
        }
    }
}

/// One workload in one mode.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Workload name.
    pub workload: String,
    /// `closed` or `open`.
    pub mode: String,
    /// Closed loop: connections; open loop: the most it used.
    pub connections: usize,
    /// Open loop: the requests/s asked for.
    pub target_rate: Option<f64>,
    /// Measured seconds.
    pub duration_s: f64,
    /// Responses (any status) to requests sent in the measured time.
    pub requests: u64,
    /// `requests` per second.
    pub rps: f64,
    /// Latency of the responses, µs (open loop: from the intended send
    /// time).
    pub latency_us: Percentiles,
    /// Open loop: from the actual send, µs (what a closed-loop tool would
    /// report).
    pub service_time_us: Option<Percentiles>,
    /// Responses by non-2xx status.
    pub non_2xx: BTreeMap<u16, u64>,
    /// Connection or protocol errors.
    pub errors: u64,
    /// Requests not answered (or, open loop, not sent) in time.
    pub timeouts: u64,
    /// Of the timeouts: open-loop requests never sent.
    pub unsent: u64,
    /// `rps` over the closed-loop hello `rps` of the same run.
    pub ratio_to_hello: Option<f64>,
    /// Example errors.
    pub error_samples: Vec<String>,
}

impl Row {
    /// The row for one loop's result.
    pub fn from_result(result: &LoopResult) -> Self {
        let stats = &result.stats;
        let duration_s = result.measured.as_secs_f64();
        let open = result.target_rate.is_some();
        Self {
            workload: result.workload.name().into(),
            mode: if open { "open" } else { "closed" }.into(),
            connections: result.connections,
            target_rate: result.target_rate,
            duration_s,
            requests: stats.responses,
            rps: stats.responses as f64 / duration_s.max(1e-9),
            latency_us: Percentiles::of(&stats.latency),
            service_time_us: open.then(|| Percentiles::of(&stats.service)),
            non_2xx: stats.non_2xx.clone(),
            errors: stats.errors,
            timeouts: stats.timeouts,
            unsent: stats.unsent,
            ratio_to_hello: None,
            error_samples: stats.error_samples.clone(),
        }
    }
}

/// Sets every row's ratio to the closed-loop hello row's req/s, if there is
/// one.
pub fn fill_hello_ratios(rows: &mut [Row]) {
    let hello = rows
        .iter()
        .find(|r| r.workload == "hello" && r.mode == "closed")
        .map(|r| r.rps)
        .filter(|&rps| rps > 0.0);
    for row in rows {
        row.ratio_to_hello = hello.map(|h| row.rps / h);
    }
}

/// A latency in µs for people: `850 µs`, `12.3 ms`, `1.20 s`.
pub fn format_latency(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..10_000 => format!("{:.2} ms", us as f64 / 1e3),
        10_000..1_000_000 => format!("{:.1} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

fn format_statuses(statuses: &BTreeMap<u16, u64>) -> String {
    if statuses.is_empty() {
        return "0".into();
    }
    statuses
        .iter()
        .map(|(status, n)| format!("{n}×{status}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rows as a Markdown table.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| workload | mode | conns | target/s | requests | req/s | p50 | p99 | p99.9 | max | non-2xx | errors / timeouts | ×hello |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |\n",
    );
    for row in rows {
        let l = &row.latency_us;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} / {} | {} |",
            row.workload,
            row.mode,
            row.connections,
            row.target_rate.map_or("–".into(), |r| format!("{r:.0}")),
            row.requests,
            row.rps,
            format_latency(l.p50),
            format_latency(l.p99),
            format_latency(l.p999),
            format_latency(l.max),
            format_statuses(&row.non_2xx),
            row.errors,
            row.timeouts,
            row.ratio_to_hello.map_or("–".into(), |r| format!("{r:.3}")),
        );
    }
    out
}

/// The JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The tool and its version.
    pub tool: String,
    /// When the run started (Unix seconds).
    pub started_at: u64,
    /// The settings the run used.
    pub settings: serde_json::Value,
    /// The results.
    pub results: Vec<Row>,
    /// Other figures (the celebrity scenario's ratio, delivery time, …).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Report {
    /// A report of `results` with `settings`.
    pub fn new(started_at: u64, settings: serde_json::Value, results: Vec<Row>) -> Self {
        Self {
            tool: format!("loadtest {}", env!("CARGO_PKG_VERSION")),
            started_at,
            settings,
            results,
            extra: serde_json::Map::new(),
        }
    }

    /// Writes it as pretty JSON to `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        std::fs::write(path, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{LoopResult, Stats, Workload};
    use std::time::Duration;

    fn result(workload: Workload, rate: Option<f64>, responses: u64) -> LoopResult {
        let mut stats = Stats::default();
        for us in 1..=responses {
            stats.latency.record(us * 10).unwrap();
        }
        stats.responses = responses;
        stats.non_2xx.insert(503, 3);
        LoopResult {
            workload,
            target_rate: rate,
            connections: 4,
            measured: Duration::from_secs(2),
            stats,
        }
    }

    #[test]
    fn a_row_has_rates_percentiles_and_statuses() {
        let row = Row::from_result(&result(Workload::Feed, None, 1000));
        assert_eq!(row.mode, "closed");
        assert_eq!(row.rps, 500.0);
        assert!(
            (4_990..=5_010).contains(&row.latency_us.p50),
            "{:?}",
            row.latency_us
        );
        assert!(
            (9_890..=9_910).contains(&row.latency_us.p99),
            "{:?}",
            row.latency_us
        );
        assert_eq!(row.non_2xx[&503], 3);
        assert!(row.service_time_us.is_none());
        assert!(
            Row::from_result(&result(Workload::Feed, Some(10.0), 1))
                .service_time_us
                .is_some()
        );
    }

    #[test]
    fn ratios_are_to_the_closed_loop_hello_rate() {
        let mut rows = vec![
            Row::from_result(&result(Workload::Hello, None, 1000)),
            Row::from_result(&result(Workload::Feed, None, 250)),
            Row::from_result(&result(Workload::Feed, Some(100.0), 200)),
        ];
        fill_hello_ratios(&mut rows);
        let ratios: Vec<f64> = rows.iter().map(|r| r.ratio_to_hello.unwrap()).collect();
        assert_eq!(ratios, vec![1.0, 0.25, 0.2]);
        let mut without_hello = vec![Row::from_result(&result(Workload::Mix, None, 10))];
        fill_hello_ratios(&mut without_hello);
        assert_eq!(without_hello[0].ratio_to_hello, None);
    }

    #[test]
    fn latencies_print_in_the_unit_that_fits() {
        assert_eq!(format_latency(850), "850 µs");
        assert_eq!(format_latency(1_234), "1.23 ms");
        assert_eq!(format_latency(45_600), "45.6 ms");
        assert_eq!(format_latency(1_200_000), "1.20 s");
    }

    #[test]
    fn the_table_has_a_header_and_one_line_per_row() {
        let mut rows = vec![
            Row::from_result(&result(Workload::Hello, None, 10)),
            Row::from_result(&result(Workload::Compose, Some(50.0), 10)),
        ];
        fill_hello_ratios(&mut rows);
        let table = markdown(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("| workload | mode |"));
        assert!(
            lines[3].starts_with("| compose | open | 4 | 50 | 10 | 5 |"),
            "{}",
            lines[3]
        );
        assert!(lines[3].contains("3×503"));
        assert!(lines[3].ends_with("| 1.000 |"));
    }

    #[test]
    fn the_json_report_names_every_figure() {
        let report = Report::new(
            0,
            serde_json::json!({"url": "x"}),
            vec![Row::from_result(&result(Workload::Timeline, None, 5))],
        );
        let json = serde_json::to_value(&report).unwrap();
        let row = &json["results"][0];
        for key in [
            "workload",
            "mode",
            "requests",
            "rps",
            "latency_us",
            "non_2xx",
            "errors",
            "timeouts",
            "ratio_to_hello",
        ] {
            assert!(row.get(key).is_some(), "{key}");
        }
        assert_eq!(row["non_2xx"]["503"], 3);
        assert!(json.get("extra").is_none());
    }
}
