//! CPU and memory of the load generator and the target, and whole-machine CPU, over the run.

use std::fmt::Write as _;

use super::{Section, clock, elapsed_axis, generator_bands, mean_max};
use crate::escape::escape;
use crate::format::{fmt_bytes, fmt_num, fmt_pct};
use crate::html::figure_with;
use crate::svg::{Axis, LineChart, RenderOptions, Series, TickFormat, color};
use cicada_report::analysis_model::{
    Analysis, CpuLimit, CpuLimitSource, ProcessSeries, ResourceSeries,
};

const MIB: f64 = 1024.0 * 1024.0;

/// The processes sampled, with the colour each keeps in every chart.
fn processes(r: &ResourceSeries) -> Vec<(&ProcessSeries, &'static str, &'static str)> {
    let mut out = Vec::new();
    if let Some(g) = &r.generator {
        out.push((g, "Load generator", color(0)));
    }
    if let Some(t) = &r.target {
        out.push((t, "Target", color(1)));
    }
    out
}

/// What sets a process's CPU limit, in a few words.
fn limit_source(l: &CpuLimit) -> String {
    match l.source {
        CpuLimitSource::Machine => "machine".to_owned(),
        CpuLimitSource::Affinity => format!("affinity {}", l.affinity.as_deref().unwrap_or("?")),
        CpuLimitSource::CgroupQuota => "cgroup quota".to_owned(),
    }
}

fn process_name(p: &ProcessSeries, role: &str) -> String {
    if p.label.is_empty() || p.label.eq_ignore_ascii_case(role) {
        format!("{role} (pid {})", p.pid)
    } else {
        format!("{role}: {} (pid {})", p.label, p.pid)
    }
}

/// The resources section, when anything was sampled.
pub fn section(a: &Analysis) -> Option<Section> {
    let r = a.resources.as_ref()?;
    let procs = processes(r);
    if procs.is_empty() && r.system.is_empty() {
        return None;
    }
    let bands = RenderOptions {
        bands: generator_bands(a),
        ..RenderOptions::default()
    };
    let shaded = if bands.bands.is_empty() {
        ""
    } else {
        " Shaded: the load generator could not keep up."
    };
    let mut b = String::from("<div class=\"charts\">\n");
    if !procs.is_empty() {
        let cpu_max = procs
            .iter()
            .flat_map(|(p, _, _)| p.samples.iter().map(|s| s.cpu_available_pct))
            .filter(|v| v.is_finite())
            .fold(100.0f64, f64::max);
        let cpu = LineChart {
            title: "CPU use of the load generator and the target".into(),
            x: elapsed_axis(),
            y: Axis {
                max: Some(cpu_max.ceil()),
                ..Axis::linear("CPU (% of available cores)", TickFormat::Number)
            },
            series: procs
                .iter()
                .map(|(p, role, c)| {
                    Series::new(
                        &process_name(p, role),
                        c,
                        p.samples
                            .iter()
                            .map(|s| (s.elapsed_s, s.cpu_available_pct))
                            .collect(),
                    )
                })
                .collect(),
        };
        figure_with(
            &mut b,
            "Process CPU",
            &format!(
                "Each second, as a share of the cores the process may use (100% = all of them).{shaded}"
            ),
            &cpu,
            &bands,
        );
        let rss = LineChart {
            title: "Resident memory of the load generator and the target".into(),
            x: elapsed_axis(),
            y: Axis::linear("RSS (MiB)", TickFormat::Number),
            series: procs
                .iter()
                .map(|(p, role, c)| {
                    Series::new(
                        &process_name(p, role),
                        c,
                        p.samples
                            .iter()
                            .map(|s| (s.elapsed_s, s.rss_bytes as f64 / MIB))
                            .collect(),
                    )
                })
                .collect(),
        };
        figure_with(
            &mut b,
            "Process memory",
            "Resident set size at each sample.",
            &rss,
            &RenderOptions::default(),
        );
    }
    if !r.system.is_empty() {
        let series =
            |label: &str,
             c: &'static str,
             get: fn(&cicada_report::analysis_model::SystemCpuSample) -> f64| {
                Series::new(
                    label,
                    c,
                    r.system.iter().map(|s| (s.elapsed_s, get(s))).collect(),
                )
            };
        let system = LineChart {
            title: "Whole-machine CPU".into(),
            x: elapsed_axis(),
            y: Axis {
                max: Some(100.0),
                ..Axis::linear("CPU (% of all cores)", TickFormat::Number)
            },
            series: vec![
                series("Busy", color(4), |s| s.busy_pct),
                series("I/O wait", color(3), |s| s.iowait_pct),
                series("Steal", color(8), |s| s.steal_pct),
            ],
        };
        figure_with(
            &mut b,
            "System CPU",
            &format!(
                "Busy, I/O-wait and stolen share of all CPUs of the machine running cicada.{shaded}"
            ),
            &system,
            &bands,
        );
    }
    b.push_str("</div>\n");
    if let Some(t) = &r.target {
        b.push_str(&target_limit(t));
    }
    b.push_str(&peaks_table(r));
    Some(Section {
        id: "resources".into(),
        title: "Resources".into(),
        body_html: b,
    })
}

/// The target's CPU limit and how much of it it used, how it was sampled, and its restarts.
fn target_limit(t: &ProcessSeries) -> String {
    let scope = if t.tree {
        "its whole process tree (every descendant, CPU of exited children included)"
    } else {
        "the one process"
    };
    let mut html = format!(
        "<p class=\"note\"><strong>Target CPU limit:</strong> {} (sampled: {scope})</p>\n",
        escape(&t.cpu_limit_line())
    );
    if !t.restarts.is_empty() {
        html.push_str("<ul class=\"note\">");
        for r in &t.restarts {
            let _ = write!(
                html,
                "<li>restarted: {} pid {} exited after {}, pid {} running at {}</li>",
                escape(&r.name),
                r.old_pid,
                clock(r.exited_after_s),
                r.new_pid,
                clock(r.restarted_at_s)
            );
        }
        html.push_str("</ul>\n");
    }
    html
}

/// Mean and peak of each series, beside the charts.
fn peaks_table(r: &ResourceSeries) -> String {
    let mut t = String::from(
        "<div class=\"table-wrap resources\"><table><thead><tr><th>Process</th>\
         <th class=\"num\">Cores available</th><th class=\"num\">CPU mean</th>\
         <th class=\"num\">CPU peak</th><th class=\"num\">Peak cores busy</th>\
         <th class=\"num\">RSS mean</th><th class=\"num\">RSS peak</th><th>Note</th></tr></thead><tbody>",
    );
    for (p, role, _) in processes(r) {
        let cpu = mean_max(p.samples.iter().map(|s| s.cpu_available_pct));
        let cores = mean_max(p.samples.iter().map(|s| s.cpu_core_pct / 100.0));
        let rss = mean_max(p.samples.iter().map(|s| s.rss_bytes as f64));
        let note = match (&p.ended, p.samples.is_empty()) {
            (Some(why), _) => format!("sampling stopped: {why}"),
            (None, true) => "no samples".to_owned(),
            (None, false) => format!(
                "{} samples, {}–{}",
                p.samples.len(),
                clock(p.samples[0].elapsed_s),
                clock(p.samples[p.samples.len() - 1].elapsed_s)
            ),
        };
        let _ = write!(
            t,
            "<tr><td class=\"name\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"msg-plain\">{}</td></tr>",
            escape(&process_name(p, role)),
            escape(&p.cpu_limit.as_ref().map_or_else(
                || fmt_num(p.cores_available),
                |l| format!("{} ({})", fmt_num(l.cores), limit_source(l))
            )),
            cpu.map_or("–".into(), |c| fmt_pct(c.0)),
            cpu.map_or("–".into(), |c| fmt_pct(c.1)),
            cores.map_or("–".into(), |c| fmt_num(c.1)),
            rss.map_or("–".into(), |m| fmt_bytes(m.0)),
            rss.map_or("–".into(), |m| fmt_bytes(m.1)),
            escape(&note)
        );
    }
    if !r.system.is_empty() {
        let busy = mean_max(r.system.iter().map(|s| s.busy_pct));
        let iowait = mean_max(r.system.iter().map(|s| s.iowait_pct));
        let steal = mean_max(r.system.iter().map(|s| s.steal_pct));
        let _ = write!(
            t,
            "<tr><td class=\"name\">Whole machine (busy)</td><td class=\"num\">–</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">–</td>\
             <td class=\"num\">–</td><td class=\"num\">–</td><td class=\"msg-plain\">{}</td></tr>",
            busy.map_or("–".into(), |c| fmt_pct(c.0)),
            busy.map_or("–".into(), |c| fmt_pct(c.1)),
            escape(&format!(
                "I/O wait mean {}, steal mean {}",
                iowait.map_or("–".into(), |c| fmt_pct(c.0)),
                steal.map_or("–".into(), |c| fmt_pct(c.0))
            ))
        );
    }
    t.push_str("</tbody></table></div>\n");
    t
}
