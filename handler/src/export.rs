//! The records as CSV, for an organizer's spreadsheet. A cell that a
//! spreadsheet would run as a formula (starting `=`, `+`, `-`, `@`, tab or
//! carriage return) is neutralised with a leading `'`.

use std::io::Write;

use crate::store::{FIELDS, LogEntry, Person, Timestamp};

/// The record's own columns, before its [`FIELDS`].
const RECORD_COLUMNS: [&str; 4] = ["id", "form", "created_at", "updated_at"];

/// The columns, in order: the record's id, form and times, then every field.
pub fn columns() -> impl Iterator<Item = &'static str> {
    RECORD_COLUMNS.into_iter().chain(FIELDS)
}

/// Makes a cell safe to open in a spreadsheet.
pub fn neutralise(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

/// RFC 3339 in UTC.
pub fn time(t: Timestamp) -> String {
    jiff::Timestamp::from_second(t)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// One person's cells, in [`columns`] order, neutralised.
pub fn row(p: &Person) -> Vec<String> {
    [
        p.id.clone(),
        p.submission.form().key().to_owned(),
        time(p.created_at),
        time(p.updated_at),
    ]
    .into_iter()
    .chain(p.submission.field_texts())
    .map(|c| neutralise(&c))
    .collect()
}

/// Writes the people as CSV with a header row.
pub fn write_csv(people: &[Person], out: impl Write) -> Result<(), csv::Error> {
    let mut writer = csv::Writer::from_writer(out);
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
    let mut writer = csv::Writer::from_writer(out);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_other_text_kept() {
        assert_eq!(
            neutralise("=HYPERLINK(\"http://x\")"),
            "'=HYPERLINK(\"http://x\")"
        );
        assert_eq!(neutralise("+16195550123"), "'+16195550123");
        assert_eq!(neutralise("-1"), "'-1");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("Ana"), "Ana");
        assert_eq!(
            columns().skip(4).collect::<Vec<_>>(),
            FIELDS,
            "the export shows every field"
        );
    }
}
