//! When a scheduled job runs: a fixed interval or a cron expression, in UTC.

use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};

/// How far ahead a cron expression is searched for its next time (8 years covers every
/// expression that can match at all, 29 February on a given weekday included).
const SEARCH_DAYS: i64 = 366 * 8;

/// When a job's ticks fall. Every process computes the same ticks from the same schedule (they
/// depend only on the clock, not on when a process started), which is what lets them agree on
/// who runs which tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Every multiple of this many milliseconds since the Unix epoch.
    Every(u64),
    /// A cron expression.
    Cron(Box<Cron>),
}

/// A parsed cron expression: the allowed values of each field, as bit sets.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cron {
    text: String,
    seconds: u64,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Whether day-of-month and day-of-week were both restricted (then either matches, as in
    /// Vixie cron).
    either_day: bool,
}

impl Schedule {
    /// A tick at every multiple of `interval` since the Unix epoch (every 10 s: at :00, :10,
    /// ..., whenever the process started).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an interval under 1 ms.
    pub fn every(interval: Duration) -> Result<Schedule> {
        let ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return Err(Error::InvalidArgument {
                what: format!("schedule interval {interval:?}"),
                reason: "must be at least 1 ms".into(),
            });
        }
        Ok(Schedule { kind: Kind::Every(ms) })
    }

    /// A cron expression in UTC: `sec min hour day-of-month month day-of-week` (six fields), or
    /// the classic five without seconds (seconds = 0). Each field is `*`, a number, a range
    /// `a-b`, a step `*/n` or `a-b/n`, or a comma-separated list of those. Months are 1-12,
    /// weekdays 0-7 (0 and 7 are Sunday). When both day fields are restricted, a day matching
    /// either runs (Vixie cron's rule).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the field that could not be read.
    pub fn cron(expression: &str) -> Result<Schedule> {
        let cron = parse_cron(expression).map_err(|reason| Error::InvalidArgument {
            what: format!("cron expression {expression:?}"),
            reason,
        })?;
        Ok(Schedule { kind: Kind::Cron(Box::new(cron)) })
    }

    /// Reads a schedule as [`Schedule`]'s `Display` writes it: `every <ms>ms` or `cron <expr>`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`].
    pub fn parse(text: &str) -> Result<Schedule> {
        let text = text.trim();
        if let Some(expr) = text.strip_prefix("cron ") {
            return Schedule::cron(expr);
        }
        let ms = text.strip_prefix("every ").and_then(|t| t.strip_suffix("ms")).and_then(|n| n.parse().ok());
        match ms {
            Some(ms) => Schedule::every(Duration::from_millis(ms)),
            None => Err(Error::InvalidArgument {
                what: format!("schedule {text:?}"),
                reason: "expected `every <n>ms` or `cron <expression>`".into(),
            }),
        }
    }

    /// The first tick strictly after `after_ms` (milliseconds since the Unix epoch), or `None`
    /// if there is none (a cron expression that never matches, like 30 February).
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        match &self.kind {
            Kind::Every(every) => {
                let every = i64::try_from(*every).ok()?;
                after_ms.div_euclid(every).checked_add(1)?.checked_mul(every)
            }
            Kind::Cron(cron) => cron.next_after(after_ms),
        }
    }

    /// The latest tick at or before `at_ms` and not before `not_before_ms`, if any.
    pub fn latest_at_or_before(&self, at_ms: i64, not_before_ms: i64) -> Option<i64> {
        let latest = match &self.kind {
            Kind::Every(every) => {
                let every = i64::try_from(*every).ok()?;
                at_ms.div_euclid(every).checked_mul(every)
            }
            Kind::Cron(cron) => cron.latest_at_or_before(at_ms),
        }?;
        (latest >= not_before_ms).then_some(latest)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Every(ms) => write!(f, "every {ms}ms"),
            Kind::Cron(cron) => write!(f, "cron {}", cron.text),
        }
    }
}

impl Cron {
    fn next_after(&self, after_ms: i64) -> Option<i64> {
        let start = after_ms.div_euclid(1000) + 1;
        let (first_day, mut from) = (start.div_euclid(86_400), start.rem_euclid(86_400));
        for day in first_day..first_day + SEARCH_DAYS {
            if self.day_matches(day) {
                if let Some(second) = self.first_time_from(from) {
                    return (day * 86_400 + second).checked_mul(1000);
                }
            }
            from = 0;
        }
        None
    }

    fn latest_at_or_before(&self, at_ms: i64) -> Option<i64> {
        let end = at_ms.div_euclid(1000);
        let (last_day, mut to) = (end.div_euclid(86_400), end.rem_euclid(86_400));
        for day in (last_day - SEARCH_DAYS..=last_day).rev() {
            if self.day_matches(day) {
                if let Some(second) = self.last_time_to(to) {
                    return (day * 86_400 + second).checked_mul(1000);
                }
            }
            to = 86_399;
        }
        None
    }

    /// The last matching second of a day at or before `to` (seconds into the day).
    fn last_time_to(&self, to: i64) -> Option<i64> {
        for h in (0..24).rev().filter(|h| bit(self.hours, *h)) {
            for m in (0..60).rev().filter(|m| bit(self.minutes, *m)) {
                let base = i64::from(h * 3600 + m * 60);
                if base > to {
                    continue;
                }
                if let Some(s) =
                    (0..60).rev().filter(|s| bit(self.seconds, *s)).find(|s| base + i64::from(*s) <= to)
                {
                    return Some(base + i64::from(s));
                }
            }
        }
        None
    }

    fn day_matches(&self, day: i64) -> bool {
        let (_, month, dom) = civil_from_days(day);
        let weekday = (day + 4).rem_euclid(7); // 1970-01-01 was a Thursday
        let dom_ok = bit(self.days, dom);
        let dow_ok = bit(self.weekdays, weekday as u32);
        let day_ok = if self.either_day { dom_ok || dow_ok } else { dom_ok && dow_ok };
        bit(self.months, month) && day_ok
    }

    /// The first matching second of a day at or after `from` (seconds into the day).
    fn first_time_from(&self, from: i64) -> Option<i64> {
        for h in (0..24).filter(|h| bit(self.hours, *h)) {
            for m in (0..60).filter(|m| bit(self.minutes, *m)) {
                let base = i64::from(h * 3600 + m * 60);
                if base + 59 < from {
                    continue;
                }
                if let Some(s) =
                    (0..60).filter(|s| bit(self.seconds, *s)).find(|s| base + i64::from(*s) >= from)
                {
                    return Some(base + i64::from(s));
                }
            }
        }
        None
    }
}

fn bit(set: u64, n: u32) -> bool {
    n < 64 && set & (1 << n) != 0
}

fn parse_cron(expression: &str) -> std::result::Result<Cron, String> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let fields: Vec<&str> = match fields.len() {
        6 => fields,
        5 => std::iter::once("0").chain(fields).collect(),
        n => return Err(format!("{n} fields; expected 6 (sec min hour dom month dow) or 5")),
    };
    let field = |i: usize, name: &str, lo: u32, hi: u32| {
        parse_field(fields[i], lo, hi).map_err(|e| format!("{name} field {:?}: {e}", fields[i]))
    };
    let mut weekdays = field(5, "day-of-week", 0, 7)?;
    if bit(weekdays, 7) {
        weekdays = (weekdays | 1) & !(1 << 7);
    }
    Ok(Cron {
        text: fields.join(" "),
        seconds: field(0, "second", 0, 59)?,
        minutes: field(1, "minute", 0, 59)?,
        hours: field(2, "hour", 0, 23)?,
        days: field(3, "day-of-month", 1, 31)?,
        months: field(4, "month", 1, 12)?,
        weekdays,
        either_day: fields[3] != "*" && fields[5] != "*",
    })
}

/// One field: a comma-separated list of `*`, `n`, `a-b`, each with an optional `/step`.
fn parse_field(text: &str, lo: u32, hi: u32) -> std::result::Result<u64, String> {
    let mut set = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, step.parse::<u32>().map_err(|_| format!("bad step {step:?}"))?),
            None => (part, 1),
        };
        if step == 0 {
            return Err("a step of 0".into());
        }
        let (a, b) = match range {
            "*" => (lo, hi),
            r => match r.split_once('-') {
                Some((a, b)) => (number(a, lo, hi)?, number(b, lo, hi)?),
                None if part.contains('/') => (number(r, lo, hi)?, hi),
                None => (number(r, lo, hi)?, number(r, lo, hi)?),
            },
        };
        if a > b {
            return Err(format!("range {a}-{b} runs backwards"));
        }
        for n in (a..=b).step_by(step as usize) {
            set |= 1 << n;
        }
    }
    Ok(set)
}

fn number(text: &str, lo: u32, hi: u32) -> std::result::Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(format!("{text:?} is not a number in {lo}-{hi}")),
    }
}

/// (year, month 1-12, day 1-31) of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-02T06:00:00Z, a Wednesday.
    const WED_0600: i64 = 1_796_191_200_000;

    #[test]
    fn intervals_tick_at_multiples_since_the_epoch() {
        let every = Schedule::every(Duration::from_secs(10)).expect("every");
        assert_eq!(every.next_after(WED_0600), Some(WED_0600 + 10_000));
        assert_eq!(every.next_after(WED_0600 + 1), Some(WED_0600 + 10_000));
        assert_eq!(every.latest_at_or_before(WED_0600 + 25_000, WED_0600), Some(WED_0600 + 20_000));
        assert_eq!(every.latest_at_or_before(WED_0600 + 25_000, WED_0600 + 21_000), None);
        assert!(every.next_after(i64::MIN).is_some(), "no overflow from the far past");
        assert!(Schedule::every(Duration::ZERO).is_err());
        assert_eq!(Schedule::parse(&every.to_string()).expect("parse"), every);
    }

    #[test]
    fn cron_expressions_find_their_next_time() {
        assert_eq!(civil_from_days(WED_0600 / 86_400_000), (2026, 12, 2));
        let five = Schedule::cron("0 */5 * * * *").expect("cron");
        assert_eq!(five.next_after(WED_0600), Some(WED_0600 + 300_000));
        assert_eq!(five.next_after(WED_0600 - 1), Some(WED_0600));
        // Classic five fields: 09:30 on weekdays; from Wednesday 06:00 that is today.
        let standup = Schedule::cron("30 9 * * 1-5").expect("cron");
        assert_eq!(standup.next_after(WED_0600), Some(WED_0600 + (3 * 3600 + 1800) * 1000));
        // Sundays at midnight (7 is Sunday too): 2026-12-06.
        let sunday = Schedule::cron("0 0 0 * * 7").expect("cron");
        assert_eq!(sunday.next_after(WED_0600), Some(WED_0600 - 6 * 3_600_000 + 4 * 86_400_000));
        // Day of month or weekday, when both are given: the 1st, or a Friday (the 4th).
        let either = Schedule::cron("0 0 0 1 * 5").expect("cron");
        assert_eq!(either.next_after(WED_0600), Some(WED_0600 - 6 * 3_600_000 + 2 * 86_400_000));
        assert_eq!(Schedule::cron("0 0 0 30 2 *").expect("cron").next_after(WED_0600), None);
        assert_eq!(Schedule::parse(&standup.to_string()).expect("parse"), standup);
        // Backwards: the last 09:30 on a weekday before Wednesday 06:00 was Tuesday's.
        let tuesday = WED_0600 - 86_400_000 + (3 * 3600 + 1800) * 1000;
        assert_eq!(standup.latest_at_or_before(WED_0600, 0), Some(tuesday));
        assert_eq!(standup.latest_at_or_before(tuesday, 0), Some(tuesday), "at counts");
        assert_eq!(standup.latest_at_or_before(WED_0600, tuesday + 1), None, "not before the bound");
        assert_eq!(five.latest_at_or_before(WED_0600 + 299_999, 0), Some(WED_0600));
        for (bad, says) in
            [("* * *", "3 fields"), ("0 60 * * * *", "minute field"), ("0 0 0 * * 1/0", "step")]
        {
            let err = Schedule::cron(bad).expect_err(bad).to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
