//! The status-code breakdown: per request row and overall, how many responses came back with
//! each HTTP status, and how many requests got none (transport errors), as counts with the
//! share on hover.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{Section, name_html};
use crate::escape::escape;
use crate::format::{fmt_count, fmt_ratio_pct};
use cicada_report::model::{RequestStats, RunReport};

/// The section, when any row counted a status (reports older than the field have none).
pub fn status_codes_section(r: &RunReport) -> Option<Section> {
    let rows: Vec<&RequestStats> = r
        .requests
        .iter()
        .filter(|row| !row.status_codes.is_empty())
        .collect();
    if rows.is_empty() && r.aggregated.status_codes.is_empty() {
        return None;
    }
    let codes: BTreeSet<u16> = rows
        .iter()
        .copied()
        .chain(std::iter::once(&r.aggregated))
        .flat_map(|row| row.status_codes.codes.iter().map(|c| c.status))
        .collect();
    let no_response = rows
        .iter()
        .copied()
        .chain(std::iter::once(&r.aggregated))
        .any(|row| row.status_codes.no_response > 0);
    let mut b = String::from(
        "<p class=\"note\">Requests by the HTTP status of their response; \"No response\" counts \
         the requests that got none (connect, TLS, read and timeout errors, or a request that \
         could not be sent). Hover a count for its share of the row.</p>\n\
         <div class=\"table-wrap\"><table class=\"status-codes\"><thead><tr>\
         <th>Type</th><th>Name</th>",
    );
    for code in &codes {
        let _ = write!(b, "<th class=\"num {}\">{code}</th>", class_of(*code));
    }
    if no_response {
        b.push_str("<th class=\"num bad\">No response</th>");
    }
    b.push_str("</tr></thead><tbody>");
    for row in &rows {
        b.push_str(&row_html(row, &codes, no_response));
    }
    b.push_str("</tbody><tfoot>");
    b.push_str(&row_html(&r.aggregated, &codes, no_response));
    b.push_str("</tfoot></table></div>\n");
    Some(Section {
        id: "status-codes".into(),
        title: "Status codes".into(),
        body_html: b,
    })
}

/// `ok` for 1xx–3xx, `bad` for 4xx and 5xx (the cells of failures are red).
fn class_of(code: u16) -> &'static str {
    if code >= 400 { "bad" } else { "ok" }
}

fn row_html(row: &RequestStats, codes: &BTreeSet<u16>, no_response: bool) -> String {
    let s = &row.status_codes;
    let total = s.total();
    let user_type = row
        .user_type
        .as_deref()
        .map(|u| format!("<span class=\"ut\">{}</span>", escape(u)))
        .unwrap_or_default();
    let mut h = format!(
        "<tr><td>{}</td><td class=\"name\">{user_type}{}</td>",
        escape(&row.method),
        name_html(&row.name)
    );
    let cell = |h: &mut String, n: u64, bad: bool| {
        if n == 0 {
            h.push_str("<td class=\"num muted\">–</td>");
        } else {
            let _ = write!(
                h,
                "<td class=\"num{}\" title=\"{} of the row's requests\">{}</td>",
                if bad { " bad" } else { "" },
                fmt_ratio_pct(n as f64 / total.max(1) as f64),
                fmt_count(n)
            );
        }
    };
    for code in codes {
        let n = s
            .codes
            .iter()
            .find(|c| c.status == *code)
            .map_or(0, |c| c.count);
        cell(&mut h, n, *code >= 400);
    }
    if no_response {
        cell(&mut h, s.no_response, true);
    }
    h.push_str("</tr>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_column_per_code_seen_and_the_rows_and_total_counted() {
        let r = cicada_report::sample::sample_report();
        let s = status_codes_section(&r).unwrap();
        let html = &s.body_html;
        for code in ["200", "201", "500", "503", "No response"] {
            assert!(html.contains(&format!(">{code}</th>")), "{code}: {html}");
        }
        // The footer is the aggregated row: its counts sum to the report's requests.
        assert_eq!(r.aggregated.status_codes.total(), r.aggregated.requests);
        let ok_200 = r.aggregated.status_codes.codes[0].count;
        assert!(html.contains(&fmt_count(ok_200)));

        let mut old = r.clone();
        old.requests
            .iter_mut()
            .for_each(|row| row.status_codes = Default::default());
        old.aggregated.status_codes = Default::default();
        assert!(
            status_codes_section(&old).is_none(),
            "an older report has none"
        );
    }
}
