//! The daily digest inside `mutualaid serve` — no cron needed. At
//! `digest_at` (config.toml or `--digest-at`, `HH:MM` in the organizers'
//! time zone) each day, one digest; and at start, if the last digest the
//! mail service accepted is older than the latest time one was due (the
//! machine was down, or this is the first start), one at once: a missed day
//! is caught up, never skipped. A run that fails (the mail server down) is
//! tried again every few minutes until one goes out.
//!
//! What a digest carries is chosen by state, not by time (see
//! `mutualaid_handler::digest`): the schedule only says *when*, so a late,
//! doubled or skipped tick can delay a person's entry, never lose it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{Timestamp as JiffTimestamp, ToSpan};
use mutualaid_handler::digest::RunReport;
use mutualaid_handler::store::roles::*;
use mutualaid_handler::store::sqlite::SqliteStore;
use tokio::sync::{Mutex, watch};

use crate::digest::Digester;

/// Seconds added to the system clock (`--clock-start`, for tests: the
/// process's clock starts at a given moment and runs on at the real pace).
static CLOCK_OFFSET: AtomicI64 = AtomicI64::new(0);

/// Starts this process's clock at `at` (seconds since the epoch).
pub fn start_clock_at(at: i64) {
    CLOCK_OFFSET.store(
        at - mutualaid_handler::clock::system_clock(),
        Ordering::Relaxed,
    );
}

/// Now, by this process's clock.
pub fn now() -> i64 {
    mutualaid_handler::clock::system_clock() + CLOCK_OFFSET.load(Ordering::Relaxed)
}

/// When a failed run is tried again, in seconds.
const RETRY_AFTER_SECS: i64 = 5 * 60;

/// The time of day, in a zone.
#[derive(Debug, Clone)]
pub struct DailyAt {
    /// The time of day.
    pub time: Time,
    /// The zone it is read in.
    pub zone: TimeZone,
}

impl DailyAt {
    /// The latest moment at or before `now` when a digest was due.
    pub fn latest_due(&self, now: i64) -> i64 {
        let today = self.on_day_of(now, 0);
        if today <= now {
            today
        } else {
            self.on_day_of(now, -1)
        }
    }

    /// The first moment after `now` when a digest is due.
    pub fn next_due(&self, now: i64) -> i64 {
        let today = self.on_day_of(now, 0);
        if today > now {
            today
        } else {
            self.on_day_of(now, 1)
        }
    }

    /// The time of day on the day of `now` (in the zone), `days` later.
    fn on_day_of(&self, now: i64, days: i64) -> i64 {
        let date = JiffTimestamp::from_second(now)
            .unwrap_or(JiffTimestamp::UNIX_EPOCH)
            .to_zoned(self.zone.clone())
            .date();
        date.checked_add(days.days())
            .unwrap_or(date)
            .to_datetime(self.time)
            // A time the clocks skip in spring is taken as the hour after; one they repeat, the first.
            .to_zoned(self.zone.clone())
            .map(|z| z.timestamp().as_second())
            .unwrap_or(now)
    }
}

/// When the last digest the mail service accepted was made (none if never,
/// or if the store cannot say: then one is due).
async fn last_sent(store: &SqliteStore) -> Option<i64> {
    store.digest_state().await.ok()?.last_sent
}

/// Whether a digest is due at start: none was ever accepted, or the last
/// was before the latest due time.
pub fn missed(last_sent: Option<i64>, at: &DailyAt, now: i64) -> bool {
    last_sent.is_none_or(|last| last < at.latest_due(now))
}

/// Runs the schedule until `stop` says so. `busy` is held while a digest
/// runs, so shutdown can wait for it to finish.
pub async fn run(
    store: SqliteStore,
    digester: Digester,
    at: DailyAt,
    busy: std::sync::Arc<Mutex<()>>,
    mut stop: watch::Receiver<bool>,
) {
    // One id for this process: a run of its own that failed mid-way does not lock it out.
    let run_id = format!("serve-{}-{}", std::process::id(), now());
    let mut due = {
        if missed(last_sent(&store).await, &at, now()) {
            println!("A digest was due while serve was not running: sending it now.");
            now()
        } else {
            at.next_due(now())
        }
    };
    loop {
        // A minute at a time, reading the wall clock again: a clock set right
        // after boot, or a machine that slept, does not move the digest.
        let left = due - now();
        if left > 0 {
            let wait = Duration::from_secs(u64::try_from(left.min(60)).unwrap_or(0));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            continue;
        }
        let _running = busy.lock().await;
        let sent = digester.send(&store, now(), &run_id).await;
        due = match sent {
            Ok(RunReport::Sent { entries, .. }) => {
                match digester.outbox() {
                    Some(dir) => println!(
                        "Wrote the digest ({entries} new or updated entries) to {}",
                        dir.display()
                    ),
                    None => println!("Sent the digest ({entries} new or updated entries)."),
                }
                at.next_due(now())
            }
            Ok(RunReport::AlreadyRunning) => {
                // Another run holds the lease (a `mutualaid digest` by hand, or one that
                // stopped mid-way): if today's digest is still not out, try again soon.
                if missed(last_sent(&store).await, &at, now()) {
                    println!(
                        "Another digest run holds the lease; trying again in {} minutes.",
                        RETRY_AFTER_SECS / 60
                    );
                    now() + RETRY_AFTER_SECS
                } else {
                    println!("Another digest run sent today's digest.");
                    at.next_due(now())
                }
            }
            Err(e) => {
                eprintln!(
                    "warning: the digest was not sent ({e}); trying again in {} minutes",
                    RETRY_AFTER_SECS / 60
                );
                now() + RETRY_AFTER_SECS
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seven_in_san_diego() -> DailyAt {
        DailyAt {
            time: Time::constant(7, 0, 0, 0),
            zone: TimeZone::get("America/Los_Angeles").unwrap(),
        }
    }

    fn at(text: &str) -> i64 {
        text.parse::<JiffTimestamp>().unwrap().as_second()
    }

    #[test]
    fn due_times_are_read_in_the_organizers_zone() {
        let daily = seven_in_san_diego();
        // 2026-11-30 06:00 in San Diego is 14:00 UTC; 07:00 there is 15:00 UTC.
        assert_eq!(
            daily.next_due(at("2026-11-30T14:00:00Z")),
            at("2026-11-30T15:00:00Z")
        );
        assert_eq!(
            daily.latest_due(at("2026-11-30T14:00:00Z")),
            at("2026-11-29T15:00:00Z")
        );
        assert_eq!(
            daily.next_due(at("2026-11-30T15:00:00Z")),
            at("2026-12-01T15:00:00Z")
        );
        assert_eq!(
            daily.latest_due(at("2026-11-30T15:00:00Z")),
            at("2026-11-30T15:00:00Z")
        );
    }

    #[test]
    fn the_day_clocks_change_still_has_its_digest() {
        let daily = seven_in_san_diego();
        // 2027-03-14: clocks go forward at 02:00; 07:00 PDT is 14:00 UTC.
        assert_eq!(
            daily.next_due(at("2027-03-14T12:00:00Z")),
            at("2027-03-14T14:00:00Z")
        );
    }

    #[test]
    fn a_missed_day_is_caught_up_and_a_sent_one_is_not_repeated() {
        let daily = seven_in_san_diego();
        let now = at("2026-11-30T20:00:00Z"); // noon in San Diego
        assert!(missed(None, &daily, now), "never sent: send now");
        assert!(
            missed(Some(at("2026-11-29T15:00:00Z")), &daily, now),
            "yesterday's: today's is due"
        );
        assert!(
            !missed(Some(at("2026-11-30T15:00:05Z")), &daily, now),
            "today's went out"
        );
    }
}
