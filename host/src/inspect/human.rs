//! `hangar inspect` as tables for a terminal: one section per plugin,
//! columns aligned within each block.

use std::fmt::Write;

use super::analysis::{describe_export, describe_import};
use super::{Finding, PluginReport, Report};

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for (i, plugin) in report.plugins.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        render_plugin(&mut out, plugin);
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "\n{} plugin{}, {} load{}: {} error{}, {} warning{}",
        s.plugins,
        plural(s.plugins),
        s.loaded,
        if s.loaded == 1 { "s" } else { "" },
        s.errors,
        plural(s.errors),
        s.warnings,
        plural(s.warnings),
    );
    out
}

/// Bytes in the largest whole unit: `8 MiB`, `1500 bytes`.
fn bytes(n: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Writes rows with every column but the last padded to its widest cell.
fn table(out: &mut String, indent: &str, rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = indent.to_string();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

fn render_plugin(out: &mut String, p: &PluginReport) {
    let _ = writeln!(out, "== {} ({})", p.plugin, p.file);
    let mut identity = Vec::new();
    match &p.agent {
        Some(agent) => {
            let kind = if agent.observable {
                format!("{}, observable", agent.kind)
            } else {
                agent.kind.to_string()
            };
            identity.push(row(["agent", &format!("{} ({kind})", agent.name)]));
            let categories: Vec<String> = agent
                .categories
                .iter()
                .map(|c| format!("{} (v{})", c.name, c.version))
                .collect();
            identity.push(row(["task types", &categories.join(", ")]));
        }
        None => identity.push(row(["agent", "unknown: it does not load (see findings)"])),
    }
    identity.push(row(["sha256", p.sha256.as_deref().unwrap_or("unreadable")]));
    if let Some(size) = p.size_bytes {
        identity.push(row([
            "size",
            &format!("{size} bytes ({:.1} KiB)", size as f64 / 1024.0),
        ]));
    }
    identity.push(row(["loads", if p.loads { "yes" } else { "no" }]));
    if let Some(l) = &p.limits {
        identity.push(row([
            "limits",
            &format!(
                "memory {} MiB, call timeout {} ms, fuel {}",
                l.memory_mib,
                l.call_timeout_ms,
                l.fuel.map_or("not metered".to_string(), |f| f.to_string())
            ),
        ]));
        identity.push(row([
            "",
            &format!(
                "{} calls at once (queue {} ms), input {}, output {}",
                l.max_concurrent_calls,
                l.queue_timeout_ms,
                bytes(l.max_input_bytes),
                bytes(l.max_output_bytes)
            ),
        ]));
    }
    if let Some(reuse) = &p.reuse {
        let text = match (reuse.max_idle, reuse.idle_timeout_seconds) {
            (Some(max_idle), Some(seconds)) if reuse.enabled => format!(
                "on: instances reset and kept between calls, up to {max_idle} idle, each for \
                 at most {seconds} s"
            ),
            _ => "off: a fresh instance per call".to_string(),
        };
        identity.push(row(["reuse", &text]));
    }
    table(out, "  ", &identity);

    let mut rows = Vec::new();
    match &p.imports {
        Some(imports) => {
            rows.push(row(["IMPORTS", "WHAT THE HOST GIVES"]));
            if imports.is_empty() {
                rows.push(row(["none", ""]));
            }
            rows.extend(imports.iter().map(|i| row([i, describe_import(i)])));
        }
        None => rows.push(row(["IMPORTS", "unknown: not a WebAssembly component"])),
    }
    if let Some(exports) = &p.exports {
        rows.push(Vec::new());
        rows.push(row(["EXPORTS", ""]));
        rows.extend(exports.iter().map(|e| row([e, describe_export(e)])));
    }
    out.push('\n');
    table(out, "  ", &rows);
    out.push('\n');
    render_grants(out, p);
    render_findings(out, &p.findings);
}

fn render_grants(out: &mut String, p: &PluginReport) {
    let m = &p.manifest;
    if !m.present {
        let _ = writeln!(
            out,
            "  GRANTS  nothing: no {} (host default limits, no HTTP, no secrets)",
            m.file
        );
        return;
    }
    if !m.valid && m.http.allow.is_empty() && m.secrets.names.is_empty() && m.sha256_pin.is_none() {
        let _ = writeln!(out, "  GRANTS  {}: unusable (see findings)", m.file);
        return;
    }
    let mut rows = vec![row([
        "GRANTS",
        &format!("{}{}", m.file, if m.valid { "" } else { " (invalid)" }),
        "LINE",
    ])];
    match &m.sha256_pin {
        Some(pin) => rows.push(row([
            "sha256 pin",
            &format!(
                "{} ({})",
                pin.sha256,
                if pin.matches {
                    "matches"
                } else {
                    "DOES NOT MATCH"
                }
            ),
            &pin.line.to_string(),
        ])),
        None => rows.push(row(["sha256 pin", "none (any build loads)", ""])),
    }
    if m.http.allow.is_empty() {
        rows.push(row(["http.allow", "none (no outbound HTTP)", ""]));
    }
    for allow in &m.http.allow {
        let methods = allow
            .methods
            .as_ref()
            .map_or("every method".to_string(), |m| m.join(", "));
        rows.push(row([
            "http.allow",
            &format!("{}  [{methods}]", allow.url),
            &allow.line.to_string(),
        ]));
    }
    for (key, value) in &m.http.settings {
        rows.push(row([&format!("http.{key}"), &value.to_string(), ""]));
    }
    if m.secrets.names.is_empty() {
        rows.push(row(["secrets.names", "none", ""]));
    }
    for name in &m.secrets.names {
        rows.push(row(["secrets.names", &name.name, &name.line.to_string()]));
    }
    for inject in &m.secrets.inject {
        rows.push(row([
            "secrets.inject",
            &format!(
                "{} -> header {} on {}",
                inject.secret, inject.header, inject.url
            ),
            &inject.line.to_string(),
        ]));
    }
    for (key, value) in &m.limits {
        rows.push(row([&format!("limits.{key}"), &value.to_string(), ""]));
    }
    for (key, value) in &m.reuse {
        rows.push(row([&format!("reuse.{key}"), &value.to_string(), ""]));
    }
    for entry in &m.config {
        rows.push(row([
            &format!("config.{}", entry.key),
            &format!("{:?}", entry.value),
            &entry.line.to_string(),
        ]));
    }
    table(out, "  ", &rows);
}

fn render_findings(out: &mut String, findings: &[Finding]) {
    if findings.is_empty() {
        let _ = writeln!(out, "\n  FINDINGS  none");
        return;
    }
    let _ = writeln!(out, "\n  FINDINGS");
    for f in findings {
        let place = match f.line {
            Some(line) => format!("{}:{line}", f.file.display()),
            None => f.file.display().to_string(),
        };
        let _ = writeln!(out, "  {:<7}  {place}: {}", f.severity.as_str(), f.message);
        if let Some(fix) = &f.fix {
            let _ = writeln!(out, "  {:<7}  fix: {fix}", "");
        }
    }
}
