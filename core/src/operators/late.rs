//! Late records: counted per operator and reported, so that none is
//! dropped in silence.
//!
//! A record is late at an operator when the window (or join window) it
//! belongs to had already closed when it arrived. Unless the operator's
//! late records are routed with `late_records()`, it is dropped: the count
//! per operator goes into [`Stats::late_by_operator`](crate::Stats), and a
//! warning names the operator, how many were dropped and how late the
//! latest was, at most once per [`REPORT_EVERY_MS`] per operator (the
//! first at once).

use std::collections::BTreeMap;

/// Least time between two warnings about one operator, in ms of wall clock.
pub(crate) const REPORT_EVERY_MS: i64 = 10_000;

#[derive(Debug, Default)]
struct Count {
    dropped: u64,
    unreported: u64,
    /// How far behind the watermark the latest unreported record was (ms).
    behind: i64,
    last_report: Option<i64>,
}

/// A task's late records, per operator.
#[derive(Debug, Default)]
pub(crate) struct LateRecords {
    by_operator: BTreeMap<String, Count>,
    total: u64,
}

impl LateRecords {
    /// Counts a record that `operator` dropped, `behind` ms behind the
    /// watermark, at wall-clock time `now`; warns if it is time to.
    pub(crate) fn dropped(&mut self, operator: &str, behind: i64, now: i64, out_of_orderness: i64) {
        self.total += 1;
        if !self.by_operator.contains_key(operator) {
            self.by_operator
                .insert(operator.to_owned(), Count::default());
        }
        let Some(c) = self.by_operator.get_mut(operator) else {
            return;
        };
        c.dropped += 1;
        c.unreported += 1;
        c.behind = behind;
        if c.last_report.is_none_or(|t| now - t >= REPORT_EVERY_MS) {
            c.last_report = Some(now);
            report(operator, c, out_of_orderness);
        }
    }

    /// Reports what has not been reported yet (when the task stops).
    pub(crate) fn report_rest(&mut self, out_of_orderness: i64) {
        for (operator, c) in &mut self.by_operator {
            if c.unreported > 0 {
                report(operator, c, out_of_orderness);
            }
        }
    }

    /// Records dropped, over all operators.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Records dropped, per operator.
    pub(crate) fn by_operator(&self) -> impl Iterator<Item = (&str, u64)> {
        self.by_operator
            .iter()
            .map(|(op, c)| (op.as_str(), c.dropped))
    }
}

fn report(operator: &str, c: &mut Count, out_of_orderness: i64) {
    tracing::warn!(
        operator,
        dropped = c.unreported,
        dropped_in_all = c.dropped,
        latest_behind_ms = c.behind,
        max_out_of_orderness_ms = out_of_orderness,
        "late records dropped: they arrived after their window closed (route them with \
         late_records(), or allow more with Config::max_out_of_orderness or the window's grace)"
    );
    c.unreported = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_operator_and_reports_at_most_every_interval() {
        let mut late = LateRecords::default();
        late.dropped("a", 5, 0, 0);
        assert_eq!(
            late.by_operator["a"].unreported, 0,
            "the first is reported at once"
        );
        late.dropped("a", 6, 1_000, 0);
        late.dropped("b", 7, 1_000, 0);
        assert_eq!(
            late.by_operator["a"].unreported, 1,
            "too soon to report again"
        );
        late.dropped("a", 8, REPORT_EVERY_MS, 0);
        assert_eq!(late.by_operator["a"].unreported, 0);
        late.dropped("a", 9, REPORT_EVERY_MS + 1, 0);
        late.report_rest(0);
        assert_eq!(late.by_operator["a"].unreported, 0);
        assert_eq!(late.total(), 5);
        let counts: Vec<_> = late.by_operator().collect();
        assert_eq!(counts, vec![("a", 4), ("b", 1)]);
    }
}
