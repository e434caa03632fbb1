//! Which due buckets an evaluator run reads, and where the next run starts.
//!
//! Due items sit in hour buckets (`store::automation::due`). A stored **watermark** says from
//! which hour on buckets may still hold items: every run reads from it (the first run ever reads
//! `lookback_hours` back), so an outage of any length — a broken deploy, a disabled schedule —
//! loses no item. A run reads at most `max_window_hours` of buckets, so the backlog of a long
//! outage is walked oldest first over successive runs instead of in one unbounded run.
//!
//! The next watermark is the hour the run read up to, held back to the hour of the oldest item it
//! left in place (not started before its deadline, held by another run, or failed to process) and,
//! when its batch was full, to the hour of the last item it read. New items never land behind it:
//! scheduling puts a past-due item in the current hour and a deferral moves an item forward.
//!
//! The watermark also stays [`INDEX_SETTLE`] behind the time the run read to: an item written just
//! before an hour boundary (a slow writer, the index's eventual consistency) may become visible
//! only after a run at 10:01 read bucket 09; that bucket is read again until 10:05 has passed.

use chrono::{DateTime, Duration, DurationRound, Utc};

/// How long after its due time an item may still appear in the due index: the watermark never
/// passes an hour before this much after its end.
pub const INDEX_SETTLE: Duration = Duration::minutes(5);

/// The hour `at` falls in.
pub fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(Duration::hours(1)).unwrap_or(at)
}

/// What one run reads: items due at or before `read_to` in the hour buckets from
/// `lookback_hours` before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub read_to: DateTime<Utc>,
    pub lookback_hours: u32,
}

/// The window of a run at `now` given the stored `watermark`.
pub fn window(now: DateTime<Utc>, watermark: Option<DateTime<Utc>>, lookback_hours: u32, max_hours: u32) -> Window {
    let first = now - Duration::hours(i64::from(lookback_hours));
    let from = hour_of(watermark.unwrap_or(first)).min(hour_of(now));
    let widest = from + Duration::hours(i64::from(max_hours.max(1)));
    let read_to = if now > widest { widest } else { now };
    let hours = (hour_of(read_to) - from).num_hours();
    Window { from, read_to, lookback_hours: u32::try_from(hours).unwrap_or(0) }
}

/// Where the next run starts after this one read `window`: `last_read` is the due time of the
/// last item read when the batch was full (`None`: the window was read to its end), `left` the due
/// times of the items the run left where they were.
pub fn next_watermark(
    window: &Window,
    last_read: Option<DateTime<Utc>>,
    left: impl IntoIterator<Item = DateTime<Utc>>,
) -> DateTime<Utc> {
    let reached = last_read.unwrap_or(window.read_to).min(window.read_to - INDEX_SETTLE);
    let held = left.into_iter().fold(reached, DateTime::min);
    hour_of(held).max(window.from)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(day: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, h, m, 0).single().unwrap_or_default()
    }

    #[test]
    fn the_first_run_reads_the_lookback_then_runs_read_from_the_watermark() {
        let w = window(at(20, 10, 7), None, 72, 168);
        assert_eq!((w.from, w.read_to, w.lookback_hours), (at(17, 10, 0), at(20, 10, 7), 72));
        let w = window(at(20, 10, 7), Some(at(20, 9, 0)), 72, 168);
        assert_eq!((w.from, w.read_to, w.lookback_hours), (at(20, 9, 0), at(20, 10, 7), 1));
        // A watermark ahead of now (clock skew between runs) never skips the current hour.
        let w = window(at(20, 10, 7), Some(at(20, 12, 0)), 72, 168);
        assert_eq!((w.from, w.lookback_hours), (at(20, 10, 0), 0));
    }

    #[test]
    fn after_a_long_outage_the_backlog_is_read_one_window_at_a_time() {
        // Last run on the 1st at 10:00; now the 20th: 7 days per run, oldest first.
        let w = window(at(20, 10, 7), Some(at(1, 10, 0)), 72, 168);
        assert_eq!((w.from, w.read_to, w.lookback_hours), (at(1, 10, 0), at(8, 10, 0), 168));
        assert_eq!(next_watermark(&w, None, []), at(8, 9, 0), "the last hour read again: it may still settle");
    }

    #[test]
    fn an_item_written_just_before_the_hour_is_not_passed() {
        // A run at 10:02 reads bucket 09 before an item due 09:59:58 shows in the index…
        let w = window(at(20, 10, 2), Some(at(20, 9, 0)), 72, 168);
        let next = next_watermark(&w, None, []);
        assert_eq!(next, at(20, 9, 0), "…so the next run reads bucket 09 again");
        // A run after 10:05 moves on.
        let w = window(at(20, 10, 7), Some(next), 72, 168);
        assert_eq!(next_watermark(&w, None, []), at(20, 10, 0));
    }

    #[test]
    fn items_left_behind_or_a_full_batch_hold_the_watermark() {
        let w = window(at(20, 10, 7), Some(at(20, 6, 0)), 72, 168);
        assert_eq!(next_watermark(&w, None, []), at(20, 10, 0), "everything read and settled (10:07)");
        assert_eq!(next_watermark(&w, None, [at(20, 8, 30), at(20, 7, 59)]), at(20, 7, 0), "oldest left item");
        assert_eq!(next_watermark(&w, Some(at(20, 9, 15)), []), at(20, 9, 0), "batch full at 09:15");
        assert_eq!(next_watermark(&w, Some(at(20, 9, 15)), [at(20, 6, 5)]), at(20, 6, 0));
        assert_eq!(next_watermark(&w, None, [at(19, 1, 0)]), at(20, 6, 0), "never behind the window");
    }
}
