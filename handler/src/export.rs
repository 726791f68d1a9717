//! The records as CSV, for an organizer's spreadsheet. A cell that a
//! spreadsheet would run as a formula (starting `=`, `+`, `-`, `@`, tab or
//! carriage return) is neutralized with a leading `'`.

use std::io::Write;

use crate::store::{AdminStore, Case, CaseAction, FIELDS, LogEntry, Person, StoreError, Timestamp};

/// The record's own columns, before its [`FIELDS`].
const RECORD_COLUMNS: [&str; 4] = ["id", "form", "created_at", "updated_at"];

/// The columns, in order: the record's id, form and times, then every field.
pub fn columns() -> impl Iterator<Item = &'static str> {
    RECORD_COLUMNS.into_iter().chain(FIELDS)
}

/// Makes a cell safe to open in a spreadsheet: no display controls (a
/// record stored before they were refused), and a cell that starts like a
/// formula starts with `'`. Every cell is also quoted ([`csv_writer`]), so a
/// spreadsheet that splits on `;` sees `Carol;=1+1` as one cell.
pub fn neutralize(cell: &str) -> String {
    let cell = mutualaid_forms::normalize::multi_line(cell);
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@') => format!("'{cell}"),
        _ => cell,
    }
}

/// A CSV writer that quotes every cell.
pub fn csv_writer<W: Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(out)
}

/// RFC 3339 in UTC.
pub fn time(t: Timestamp) -> String {
    jiff::Timestamp::from_second(t)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// One person's cells, in [`columns`] order, neutralized.
pub fn row(p: &Person) -> Vec<String> {
    [
        p.id.clone(),
        p.submission.form().key().to_owned(),
        time(p.created_at),
        time(p.updated_at),
    ]
    .into_iter()
    .chain(p.submission.field_texts())
    .map(|c| neutralize(&c))
    .collect()
}

/// Writes the people as CSV with a header row.
pub fn write_csv(people: &[Person], out: impl Write) -> Result<(), csv::Error> {
    let mut writer = csv_writer(out);
    writer.write_record(columns())?;
    for p in people {
        writer.write_record(row(p))?;
    }
    writer.flush()?;
    Ok(())
}

/// Writes the submission log as CSV: one row per accepted submission, by
/// its reference (no personal data: time, form, record id, outcome).
pub fn write_log_csv(log: &[LogEntry], out: impl Write) -> Result<(), csv::Error> {
    let mut writer = csv_writer(out);
    writer.write_record(["reference", "at", "form", "record_id", "outcome", "version"])?;
    for e in log {
        writer.write_record([
            e.reference.clone(),
            time(e.at),
            e.form.key().to_owned(),
            e.person_id.clone(),
            e.outcome.name().to_owned(),
            e.version.to_string(),
        ])?;
    }
    writer.flush()?;
    Ok(())
}

/// Writes the cases as CSV: each request, its kind and state, who asked,
/// the volunteer, and when it opened, was matched or funded, and closed.
pub fn write_cases_csv(cases: &[Case], out: impl Write) -> Result<(), csv::Error> {
    let mut writer = csv_writer(out);
    writer.write_record([
        "case",
        "kind",
        "state",
        "person_id",
        "volunteer_id",
        "opened_at",
        "matched_at",
        "closed_at",
        "closed_because",
        "asked_again_after",
        "declined",
        "version",
    ])?;
    let t = |v: Option<Timestamp>| v.map(time).unwrap_or_default();
    for c in cases {
        writer.write_record([
            c.id.clone(),
            c.kind.name().to_owned(),
            c.state.name().to_owned(),
            c.person_id.clone(),
            c.volunteer_id.clone().unwrap_or_default(),
            time(c.opened_at),
            t(c.matched_at),
            t(c.closed.map(|(at, _)| at)),
            c.closed
                .map(|(_, r)| r.name().to_owned())
                .unwrap_or_default(),
            t(c.asked_again_after),
            c.declined.join(" "),
            c.version.to_string(),
        ])?;
    }
    writer.flush()?;
    Ok(())
}

/// Writes the organizers' actions as CSV: the cases' history.
pub fn write_actions_csv(actions: &[CaseAction], out: impl Write) -> Result<(), csv::Error> {
    let mut writer = csv_writer(out);
    writer.write_record([
        "at",
        "action",
        "case",
        "volunteer_id",
        "by",
        "detail",
        "case_version",
    ])?;
    for a in actions {
        // A merge: the cases it closed, and which record went into which.
        let (case, detail) = match &a.merged {
            Some(m) => (
                m.closed
                    .iter()
                    .map(|c| c.id.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                format!("{} into {}", m.from, m.into),
            ),
            None => (a.case_id.clone().unwrap_or_default(), a.detail.clone()),
        };
        writer.write_record([
            time(a.at),
            a.kind.name().to_owned(),
            case,
            a.volunteer_id.clone().unwrap_or_default(),
            a.by.name().to_owned(),
            detail,
            a.version.to_string(),
        ])?;
    }
    writer.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralized_and_other_text_kept() {
        assert_eq!(
            neutralize("=HYPERLINK(\"http://x\")"),
            "'=HYPERLINK(\"http://x\")"
        );
        assert_eq!(neutralize("+16195550123"), "'+16195550123");
        assert_eq!(neutralize("-1"), "'-1");
        assert_eq!(neutralize("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralize("Ana"), "Ana");
        assert_eq!(neutralize("Ca\u{202E}rol\u{0}"), "Carol");
        let mut out = Vec::new();
        let mut w = csv_writer(&mut out);
        w.write_record([neutralize("Carol;=1+1"), neutralize("a,b")])
            .expect("written");
        drop(w);
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "\"Carol;=1+1\",\"a,b\"\n",
            "quoted: one cell however a spreadsheet splits"
        );
        assert_eq!(
            columns().skip(4).collect::<Vec<_>>(),
            FIELDS,
            "the export shows every field"
        );
    }
}

/// The first second (UTC) of a day written `2026-11-26`, for `since`.
pub fn day_start(day: &str) -> Option<Timestamp> {
    day.parse::<jiff::civil::Date>()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC))
        .map(|z| z.timestamp().as_second())
        .ok()
}

/// Which table an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// One row per person: their latest details.
    People,
    /// One row per accepted submission, by reference.
    Submissions,
    /// One row per case (request), closed ones too.
    Cases,
    /// One row per organizer action: the cases' history.
    Actions,
}

impl Table {
    /// Every table, by [`Self::name`].
    pub const ALL: [Table; 4] = [
        Table::People,
        Table::Submissions,
        Table::Cases,
        Table::Actions,
    ];

    /// Its name on the command line and in the digest function's event.
    pub fn name(self) -> &'static str {
        match self {
            Table::People => "people",
            Table::Submissions => "submissions",
            Table::Cases => "cases",
            Table::Actions => "actions",
        }
    }

    /// From [`Self::name`].
    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store could not be read.
    #[error("reading the {table}: {source}")]
    Store {
        /// Which table.
        table: &'static str,
        /// Why.
        source: StoreError,
    },
    /// The CSV could not be written.
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
}

/// Writes `table` as CSV to `out`: the rows changed at or after `since`
/// (`i64::MIN`: all). Returns a warning per row that could not be read
/// (named by its key only), every other row written. The same on every
/// store: `mutualaid export` and the digest function's export event.
pub async fn table<S: AdminStore>(
    store: &S,
    table: Table,
    since: Timestamp,
    out: impl Write,
) -> Result<Vec<String>, ExportError> {
    let read = |source| ExportError::Store {
        table: table.name(),
        source,
    };
    let mut warnings = Vec::new();
    match table {
        Table::People => {
            let mut scan = store.everyone().await.map_err(read)?;
            scan.people.retain(|p| p.updated_at >= since);
            write_csv(&scan.people, out)?;
            warnings.extend(scan.unreadable.iter().map(|key| {
                format!("the record {key} could not be read and is not in the export; every other record is")
            }));
        }
        Table::Submissions => {
            let mut log = store.submissions().await.map_err(read)?;
            log.retain(|e| e.at >= since);
            write_log_csv(&log, out)?;
        }
        Table::Cases => {
            let scan = store.all_cases().await.map_err(read)?;
            let cases: Vec<_> = scan
                .cases
                .into_iter()
                .filter(|c| c.changed_at >= since)
                .collect();
            write_cases_csv(&cases, out)?;
            warnings.extend(
                scan.unreadable.iter().map(|key| {
                    format!("the case {key} could not be read and is not in the export")
                }),
            );
        }
        Table::Actions => {
            let actions = store.actions_since(since.max(0)).await.map_err(read)?;
            write_actions_csv(&actions, out)?;
        }
    }
    Ok(warnings)
}
