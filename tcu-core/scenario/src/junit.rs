//! JUnit XML of scenario runs: one `<testsuite>` per scenario file, one
//! `<testcase>` per expectation (and per command step, whose outcome is
//! checked too). A failed expectation is a `<failure>`; a scenario that could
//! not be run is an `<error>` (on every case, or on a single `scenario` case
//! when the file did not even parse), so CI tells a broken file from a broken
//! car. Hand-written: the format is small and this keeps the escaping visible.

use super::runner::{CaseStatus, ScenarioReport};
use std::fmt::Write;

/// Escapes text for XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab and newlines are not
            // allowed in XML 1.0 at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// The JUnit document for a set of reports.
pub fn render(reports: &[ScenarioReport]) -> String {
    let count = |f: &dyn Fn(&CaseStatus) -> bool| -> usize {
        reports
            .iter()
            .flat_map(|r| &r.cases)
            .filter(|c| f(&c.status))
            .count()
    };
    let tests = count(&|_| true);
    let failures = count(&|s| matches!(s, CaseStatus::Failed(_)));
    let errors = count(&|s| matches!(s, CaseStatus::Error(_)));
    let time: f64 = reports.iter().map(|r| r.wall.as_secs_f64()).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"tcu scenarios\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{time:.3}\">"
    );
    for r in reports {
        let f = r
            .cases
            .iter()
            .filter(|c| matches!(c.status, CaseStatus::Failed(_)))
            .count();
        let e = r
            .cases
            .iter()
            .filter(|c| matches!(c.status, CaseStatus::Error(_)))
            .count();
        let file = r.file.display().to_string();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" file=\"{}\" tests=\"{}\" failures=\"{f}\" errors=\"{e}\" time=\"{:.3}\">",
            escape(&r.name),
            escape(&file),
            r.cases.len(),
            r.wall.as_secs_f64()
        );
        for c in &r.cases {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" line=\"{}\"",
                escape(&c.name),
                escape(&r.name),
                escape(&file),
                c.pos.line
            );
            match &c.status {
                CaseStatus::Passed => out.push_str("/>\n"),
                CaseStatus::Failed(m) | CaseStatus::Error(m) => {
                    let tag = if matches!(c.status, CaseStatus::Failed(_)) {
                        "failure"
                    } else {
                        "error"
                    };
                    let m = escape(m);
                    let _ = writeln!(
                        out,
                        ">\n      <{tag} message=\"{m}\">{m}</{tag}>\n    </testcase>"
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_quotes_are_escaped() {
        assert_eq!(
            escape("a<b & \"c\" 'd'>\u{1}"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;?"
        );
    }
}
