//! deploy/: the Grafana dashboard and the Prometheus alert rules name only
//! metrics a running gateway exports, each as Prometheus stores it (a
//! counter family `x` is the series `x_total`, read through `rate()` or
//! `increase()`; a gauge is read as it is), with labels the family has.
//! The gateway runs with every optional part that adds metrics on (the
//! journal, the command queue, frame traces, the NATS bus, a lenient
//! profile) and with charge points connected, so the labelled families
//! have samples. promtool checks the rules' syntax and behaviour
//! (.ci/promtool); this test checks their names against the gateway.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::nats::NatsServer;
use common::*;
use ocpp_gateway::config::{BusKind, Config};
use serde_json::{Value, json};

const DASHBOARD: &str = "deploy/grafana/ocpp-gateway.json";
const ALERTS: &str = "deploy/prometheus/ocpp-gateway-alerts.yml";
const ALERT_TESTS: &str = "deploy/prometheus/ocpp-gateway-alerts.test.yml";

/// Series that Prometheus makes itself (`up`) or the blackbox exporter's
/// probe of /health exports (`probe_success`): not the gateway's.
const NOT_THE_GATEWAYS: [&str; 2] = ["up", "probe_success"];
/// Target labels Prometheus adds to every scraped series.
const TARGET_LABELS: [&str; 2] = ["job", "instance"];

/// PromQL words that are neither functions nor metrics.
const KEYWORDS: [&str; 8] = [
    "and", "or", "unless", "bool", "offset", "inf", "nan", "atan2",
];
/// Words followed by a parenthesised list of label names.
const LABEL_LISTS: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
/// Aggregations, which may put `by (…)` or `without (…)` before their
/// argument list.
const AGGREGATIONS: [&str; 13] = [
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "limitk",
];
/// Functions that take a counter's range vector.
const COUNTER_FUNCTIONS: [&str; 4] = ["rate", "irate", "increase", "resets"];
/// Functions that take a gauge's range vector.
const GAUGE_FUNCTIONS: [&str; 13] = [
    "delta",
    "idelta",
    "deriv",
    "predict_linear",
    "changes",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "last_over_time",
    "quantile_over_time",
    "stddev_over_time",
];

/// One family of the scrape: its `# TYPE` and the labels its samples carry.
#[derive(Debug, Default)]
struct Family {
    kind: String,
    labels: BTreeSet<String>,
    samples: usize,
}

/// What a scrape exports: families by name, and each sample name the
/// exposition format gives a family of its type, pointing at the family.
struct Exported {
    families: BTreeMap<String, Family>,
    series: BTreeMap<String, String>,
}

/// The sample names of a family of `kind` (OpenMetrics 1.0, "Metric types").
fn sample_names(family: &str, kind: &str) -> Vec<String> {
    let with = |suffixes: &[&str]| -> Vec<String> {
        suffixes.iter().map(|s| format!("{family}{s}")).collect()
    };
    match kind {
        "counter" => with(&["_total", "_created"]),
        "histogram" | "gaugehistogram" => with(&["_bucket", "_sum", "_count", "_created"]),
        "summary" => with(&["", "_sum", "_count", "_created"]),
        "info" => with(&["_info"]),
        _ => with(&[""]),
    }
}

fn parse_scrape(text: &str) -> Exported {
    assert!(text.trim_end().ends_with("# EOF"), "no # EOF terminator");
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut series = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
            for sample in sample_names(name, kind) {
                assert!(
                    series.insert(sample.clone(), name.to_owned()).is_none(),
                    "{sample} would belong to two families"
                );
            }
            families.entry(name.to_owned()).or_default().kind = kind.to_owned();
        }
    }
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let series_end = line.rfind(' ').expect("sample value");
        let name_end = line.find(['{', ' ']).unwrap();
        let name = &line[..name_end];
        let family = series
            .get(name)
            .unwrap_or_else(|| panic!("sample {name} fits no # TYPE line by its suffix: {line}"));
        let family = families.get_mut(family).unwrap();
        family.samples += 1;
        if line[name_end..].starts_with('{') {
            let labels = &line[name_end + 1..series_end];
            let labels = labels.rsplit_once('}').expect("closing brace").0;
            for pair in labels.split("\",") {
                let key = pair.split_once('=').expect("label=value").0;
                family.labels.insert(key.to_owned());
            }
        }
    }
    Exported { families, series }
}

/// A metric named in an expression.
#[derive(Debug)]
struct Selector {
    name: String,
    /// Label names of its matchers.
    labels: Vec<String>,
    /// Followed by a range (`[5m]`).
    range: bool,
    /// The function whose argument list holds it directly.
    function: Option<String>,
}

/// The metrics of one PromQL expression and its grouping labels (by,
/// without, on, ignoring, group_left, group_right), found by scanning
/// the text: strings, ranges, numbers and Grafana's `$variables` are
/// skipped; an identifier followed by `(` is a function.
fn scan(expr: &str) -> (Vec<Selector>, Vec<String>) {
    let b = expr.as_bytes();
    let mut i = 0;
    let mut selectors: Vec<Selector> = Vec::new();
    let mut grouping = Vec::new();
    // The identifier before each open parenthesis.
    let mut parens: Vec<Option<String>> = Vec::new();
    // An aggregation whose `by (…)` comes before its argument list.
    let mut aggregation: Option<String> = None;
    let ident_start = |c: u8| c.is_ascii_alphabetic() || c == b'_' || c == b':';
    let ident_char = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    let skip_space = |mut j: usize| {
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        j
    };
    let read_ident = |mut j: usize| {
        let start = j;
        while j < b.len() && ident_char(b[j]) {
            j += 1;
        }
        (expr[start..j].to_owned(), j)
    };
    let skip_string = |j: usize| {
        let quote = b[j];
        let mut k = j + 1;
        while b[k] != quote {
            k += if b[k] == b'\\' { 2 } else { 1 };
        }
        k + 1
    };
    let close = |j: usize, c: u8| {
        j + expr[j..]
            .find(c as char)
            .unwrap_or_else(|| panic!("unclosed at {j} in {expr}"))
    };
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' || c == b'`' {
            i = skip_string(i);
        } else if c == b'$' {
            i += 1;
            if b.get(i) == Some(&b'{') {
                i = close(i, b'}') + 1;
            } else {
                i = read_ident(i).1;
            }
        } else if c == b'[' {
            i = close(i, b']') + 1;
            if let Some(last) = selectors.last_mut() {
                last.range = true;
            }
        } else if c.is_ascii_digit() || c == b'.' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
        } else if c == b'(' {
            parens.push(aggregation.take());
            i += 1;
        } else if c == b')' {
            parens.pop();
            i += 1;
        } else if c == b',' && matches!(parens.last(), Some(Some(f)) if f == "label_values") {
            // label_values(metric, label): the rest is a label name.
            i = close(i, b')');
        } else if c == b'{' {
            panic!("a selector without a metric name in {expr}");
        } else if ident_start(c) {
            let (word, end) = read_ident(i);
            let next = skip_space(end);
            i = end;
            if b.get(next) == Some(&b'(') {
                if LABEL_LISTS.contains(&word.as_str()) {
                    let list_end = close(next, b')');
                    grouping.extend(
                        expr[next + 1..list_end]
                            .split(',')
                            .map(|l| l.trim().to_owned())
                            .filter(|l| !l.is_empty()),
                    );
                    i = list_end + 1;
                } else {
                    parens.push(Some(word));
                    i = next + 1;
                }
                continue;
            }
            if AGGREGATIONS.contains(&word.as_str()) {
                aggregation = Some(word);
                continue;
            }
            if KEYWORDS.contains(&word.as_str()) || LABEL_LISTS.contains(&word.as_str()) {
                continue;
            }
            let mut labels = Vec::new();
            if b.get(next) == Some(&b'{') {
                let mut j = next + 1;
                loop {
                    j = skip_space(j);
                    if b[j] == b'}' {
                        break;
                    }
                    let (label, after) = read_ident(j);
                    assert!(!label.is_empty(), "bad matcher at {j} in {expr}");
                    labels.push(label);
                    j = skip_space(after);
                    while matches!(b[j], b'=' | b'!' | b'~') {
                        j += 1;
                    }
                    j = skip_string(skip_space(j));
                    j = skip_space(j);
                    if b[j] == b',' {
                        j += 1;
                    }
                }
                i = j + 1;
            }
            selectors.push(Selector {
                name: word,
                labels,
                range: false,
                function: parens.last().cloned().flatten(),
            });
        } else {
            i += 1;
        }
    }
    (selectors, grouping)
}

/// What is wrong with `expr` (from `place`) against the scrape. With
/// `series_only`, `expr` is a series of a promtool test (`name{labels}`),
/// checked for its name and labels alone.
fn problems(exported: &Exported, place: &str, expr: &str, series_only: bool) -> Vec<String> {
    let mut out = Vec::new();
    let (selectors, grouping) = scan(expr);
    if selectors.is_empty() {
        out.push(format!("{place}: no metric in {expr:?}"));
    }
    let mut known_labels: BTreeSet<&str> = TARGET_LABELS.into_iter().collect();
    for s in &selectors {
        if NOT_THE_GATEWAYS.contains(&s.name.as_str()) {
            continue;
        }
        let Some(family_name) = exported.series.get(&s.name) else {
            let hint = match exported.families.get(&s.name) {
                Some(f) => format!(" (a {} family: its series are named otherwise)", f.kind),
                None => String::new(),
            };
            out.push(format!(
                "{place}: {} is not a series the gateway exports{hint}",
                s.name
            ));
            continue;
        };
        let family = &exported.families[family_name];
        known_labels.extend(family.labels.iter().map(String::as_str));
        for label in &s.labels {
            if !TARGET_LABELS.contains(&label.as_str()) && !family.labels.contains(label) {
                out.push(format!(
                    "{place}: {} has no label {label} (it has {:?}, in {} samples)",
                    s.name, family.labels, family.samples
                ));
            }
        }
        if series_only {
            continue;
        }
        let function = s.function.as_deref().unwrap_or("");
        match family.kind.as_str() {
            "counter" if !(s.range && COUNTER_FUNCTIONS.contains(&function)) => out.push(format!(
                "{place}: counter {} must be read through rate() or increase() over a range",
                s.name
            )),
            "gauge" if s.range && !GAUGE_FUNCTIONS.contains(&function) => out.push(format!(
                "{place}: gauge {} over a range in {function}(), a counter function",
                s.name
            )),
            _ => {}
        }
    }
    for label in &grouping {
        if !known_labels.contains(label.as_str()) {
            out.push(format!(
                "{place}: grouping label {label} is on none of its metrics ({known_labels:?})"
            ));
        }
    }
    out
}

/// Every panel, rows' nested panels included.
fn all_panels(panels: &[Value]) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in panels {
        out.push(p);
        if let Some(nested) = p["panels"].as_array() {
            out.extend(all_panels(nested));
        }
    }
    out
}

/// The dashboard's expressions with where they stand; checks its shape.
fn dashboard_exprs(dashboard: &Value) -> Vec<(String, String)> {
    assert!(
        dashboard["schemaVersion"].as_u64().unwrap_or(0) >= 36,
        "schemaVersion"
    );
    let inputs = dashboard["__inputs"].as_array().expect("__inputs");
    assert!(
        inputs
            .iter()
            .any(|i| i["type"] == "datasource" && i["pluginId"] == "prometheus"),
        "no Prometheus datasource in __inputs"
    );
    let input_names: Vec<String> = inputs
        .iter()
        .map(|i| format!("${{{}}}", i["name"].as_str().unwrap()))
        .collect();
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating");
    let datasource_variables: Vec<String> = variables
        .iter()
        .filter(|v| v["type"] == "datasource")
        .map(|v| format!("${{{}}}", v["name"].as_str().unwrap()))
        .collect();
    assert!(!datasource_variables.is_empty(), "no datasource variable");
    for name in ["job", "instance"] {
        assert!(
            variables
                .iter()
                .any(|v| v["name"] == name && v["type"] == "query"),
            "no {name} variable"
        );
    }
    let datasource_ok = |d: &Value| {
        d["type"] == "prometheus"
            && d["uid"].as_str().is_some_and(|u| {
                datasource_variables.iter().any(|v| v == u) || input_names.iter().any(|v| v == u)
            })
    };
    let mut exprs = Vec::new();
    for v in variables.iter().filter(|v| v["type"] == "query") {
        let name = v["name"].as_str().unwrap();
        assert!(
            datasource_ok(&v["datasource"]),
            "variable {name}: datasource"
        );
        let query = v["query"]["query"].as_str().or(v["query"].as_str());
        exprs.push((
            format!("variable {name}"),
            query.expect("variable query").to_owned(),
        ));
    }
    let panels = all_panels(dashboard["panels"].as_array().expect("panels"));
    let mut ids = BTreeSet::new();
    for p in &panels {
        let id = p["id"].as_u64().expect("panel id");
        let title = p["title"].as_str().unwrap_or("?");
        assert!(ids.insert(id), "panel id {id} twice ({title})");
        assert!(p["gridPos"]["w"].is_u64(), "panel {id} {title}: gridPos");
        if p["type"] == "row" {
            continue;
        }
        assert!(
            datasource_ok(&p["datasource"]),
            "panel {id} {title}: datasource {}",
            p["datasource"]
        );
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {id} {title}: no targets");
        for t in targets {
            assert!(
                datasource_ok(&t["datasource"]),
                "panel {id} {title}: target datasource"
            );
            let expr = t["expr"].as_str().expect("expr");
            exprs.push((format!("panel {id} {title:?}"), expr.to_owned()));
        }
    }
    exprs
}

/// The `expr:` values of a rules file, inline or `|`/`>` blocks.
fn rule_exprs(text: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let Some(value) = trimmed.strip_prefix("expr:") else {
            continue;
        };
        let indent = line.len() - trimmed.len();
        let value = value.trim();
        let expr = if value.starts_with(['|', '>']) {
            lines[n + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
                .map(|l| l.trim())
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            value.trim_matches(['"', '\'']).to_owned()
        };
        out.push((format!("{ALERTS}:{}", n + 1), expr));
    }
    out
}

/// Each alert says how long (`for:`), how bad (`severity:`) and what.
fn check_alert_fields(text: &str) -> usize {
    let alerts: Vec<&str> = text.split("- alert:").skip(1).collect();
    for alert in &alerts {
        let alert = alert.split("\n  - name:").next().unwrap();
        let name = alert.lines().next().unwrap().trim();
        for field in ["expr:", "for:", "severity:", "summary:", "description:"] {
            assert!(alert.contains(field), "alert {name} has no {field}");
        }
    }
    alerts.len()
}

/// The series names of the promtool unit tests.
fn test_series(text: &str) -> Vec<(String, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(n, l)| {
            let value = l.trim_start().strip_prefix("- series:")?;
            Some((
                format!("{ALERT_TESTS}:{}", n + 1),
                value.trim().trim_matches('\'').to_owned(),
            ))
        })
        .collect()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(manifest_dir().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn scrape(admin: SocketAddr) -> String {
    let (status, text) = http(admin, "GET", "/metrics", None, None);
    assert_eq!(status, 200, "{text}");
    text
}

/// Every optional part on: journal and queue (the defaults), traces, the
/// bus, and a lenient profile for CP-LAX.
fn gateway(nats: &NatsServer) -> ocpp_gateway::GatewayHandle {
    let mut config = test_config();
    config.admin.enabled = true;
    config.trace.directory = Some(scratch_dir("deploy-trace"));
    config.bus.kind = BusKind::Nats;
    config.bus.servers = vec![nats.url()];
    config.bus.gateway_id = "gw-deploy".to_owned();
    config.profiles = Config::parse(
        "[[profiles]]\nname = \"lax\"\nids = [\"CP-LAX\"]\nlenient = [\"extra_fields\"]\n",
        Path::new("deploy.toml"),
    )
    .expect("valid profile")
    .profiles;
    start(config)
}

#[test]
fn deploy_files_name_only_exported_metrics() {
    let nats = NatsServer::start();
    let gw = gateway(&nats);
    let admin = gw.admin_address().expect("admin enabled");
    let mut plain = ChargePoint::connect(gw.local_addr(), "CP-PLAIN");
    plain.boot();
    plain.call_ok("Heartbeat", json!({}));
    plain.call("NoSuchAction", json!({}));
    let mut lax = ChargePoint::connect(gw.local_addr(), "CP-LAX");
    lax.boot();
    lax.call_ok("Heartbeat", json!({"firmwareQuirk": 1}));
    let (status, body) = http(
        admin,
        "POST",
        "/connections/CP-PLAIN/trace",
        Some(&json!({"minutes": 1})),
        None,
    );
    assert_eq!(status, 200, "{body}");
    // Counters are published on the threads' ticks, the bus connects on
    // its own: wait until the scrape shows all of it.
    wait_for("every part in /metrics", Duration::from_secs(20), || {
        let text = scrape(admin);
        let exported = parse_scrape(&text);
        let has = |f: &str| exported.families.get(f).is_some_and(|f| f.samples > 0);
        text.contains("ocpp_gateway_bus_connected 1")
            && has("ocpp_gateway_answers")
            && has("ocpp_gateway_lenient")
            && has("ocpp_gateway_profile_connections")
            && has("ocpp_gateway_trace_connections")
            && has("ocpp_gateway_queue_depth")
            && has("ocpp_gateway_journal_lag")
    });
    let exported = parse_scrape(&scrape(admin));

    // The checker itself: names, suffixes, functions and labels it must
    // refuse, made from families this scrape really has.
    let counter = exported
        .families
        .iter()
        .find(|(_, f)| f.kind == "counter" && f.labels.contains("reactor"))
        .map(|(n, _)| n.clone())
        .expect("a counter by reactor");
    let gauge = exported
        .families
        .iter()
        .find(|(_, f)| f.kind == "gauge")
        .map(|(n, _)| n.clone())
        .expect("a gauge");
    for bad in [
        format!("rate({counter}_bogus_total[5m])"),
        format!("rate({counter}[5m])"),
        format!("{counter}_total"),
        format!("rate({gauge}[5m])"),
        format!("rate({counter}_total{{reactorr=\"0\"}}[5m])"),
        format!("sum by (reactorr) (rate({counter}_total[5m]))"),
        "vector(1)".to_owned(),
    ] {
        assert!(
            !problems(&exported, "self-check", &bad, false).is_empty(),
            "the check lets {bad} through"
        );
    }
    let good = format!(
        "sum by (instance, reactor) (rate({counter}_total{{job=~\"$job\", reactor!=\"x\"}}[$__rate_interval])) \
         / on (instance) group_left max_over_time({gauge}[5m]) > 0 and up == 1"
    );
    assert_eq!(
        problems(&exported, "self-check", &good, false),
        Vec::<String>::new()
    );

    let dashboard: Value = serde_json::from_str(&read(DASHBOARD)).expect("dashboard is JSON");
    let alerts = read(ALERTS);
    let rules = rule_exprs(&alerts);
    assert_eq!(
        rules.len(),
        check_alert_fields(&alerts),
        "an expr per alert (recording rules?)"
    );
    let mut found = Vec::new();
    let mut named = BTreeSet::new();
    for (place, expr) in dashboard_exprs(&dashboard).into_iter().chain(rules) {
        found.extend(problems(&exported, &place, &expr, false));
        named.extend(scan(&expr).0.into_iter().map(|s| s.name));
    }
    for (place, series) in test_series(&read(ALERT_TESTS)) {
        found.extend(problems(&exported, &place, &series, true));
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
    // Not a check of the files' contents: that they were read at all.
    assert!(named.len() > 20, "only {named:?}");
    plain.close();
    lax.close();
    stop(gw);
}
