//! A session's time zone: the IANA name the teacher's browser sends when it
//! opens the session, so that reports give each session the date it had
//! where it was taught, not in UTC.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::Invalid;

/// The zone when the teacher gave none.
pub const DEFAULT: &str = "UTC";

/// Checks an IANA zone name (`Europe/Istanbul`): `None` for an empty one
/// (UTC), the canonical spelling otherwise.
pub fn parse(field: &'static str, value: &str) -> Result<Option<String>, Invalid> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    value.parse::<Tz>().map(|tz| Some(tz.name().to_owned())).map_err(|_| {
        Invalid::new(field, format!("{value:?} is not an IANA time zone name (for example Europe/Istanbul)"))
    })
}

/// The calendar day (YYYY-MM-DD) of `time` in `zone` (UTC when `None`
/// or, for a name stored by a newer version, unknown here).
pub fn local_date(time: DateTime<Utc>, zone: Option<&str>) -> String {
    let tz = zone.and_then(|zone| zone.parse::<Tz>().ok()).unwrap_or(Tz::UTC);
    time.with_timezone(&tz).format("%Y-%m-%d").to_string()
}

/// `time` in `zone`, as `YYYY-MM-DD HH:MM:SS` (for a spreadsheet).
pub fn local_time(time: DateTime<Utc>, zone: Option<&str>) -> String {
    let tz = zone.and_then(|zone| zone.parse::<Tz>().ok()).unwrap_or(Tz::UTC);
    time.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The name to show for a stored zone.
pub fn name(zone: Option<&str>) -> &str {
    zone.unwrap_or(DEFAULT)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_known_zone_is_kept_and_an_empty_one_means_utc() {
        assert_eq!(parse("time_zone", " Europe/Istanbul ").unwrap().as_deref(), Some("Europe/Istanbul"));
        assert_eq!(parse("time_zone", "").unwrap(), None);
        assert_eq!(name(None), "UTC");
    }

    #[test]
    fn an_unknown_zone_names_the_field() {
        let err = parse("time_zone", "Mars/Olympus").unwrap_err();
        assert_eq!(err.field, "time_zone");
        assert!(err.message.contains("Mars/Olympus"), "{err}");
    }

    #[test]
    fn a_late_evening_class_west_of_utc_keeps_its_own_date() {
        // 02:30 UTC on 3 March is still the evening of 2 March in New York.
        let time = Utc.with_ymd_and_hms(2026, 3, 3, 2, 30, 0).unwrap();
        assert_eq!(local_date(time, Some("America/New_York")), "2026-03-02");
        assert_eq!(local_date(time, None), "2026-03-03");
        assert_eq!(local_time(time, Some("Asia/Tokyo")), "2026-03-03 11:30:00");
        // A name this build does not know falls back to UTC rather than failing a report.
        assert_eq!(local_date(time, Some("Nowhere/Unknown")), "2026-03-03");
    }
}
