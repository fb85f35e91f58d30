use std::fmt;

use chrono::{DateTime, Datelike, SecondsFormat, TimeZone, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A moment in UTC with millisecond precision, the precision every database keeps.
/// It travels as RFC 3339 (`2026-11-24T03:52:27.123Z`) and is stored as
/// milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub fn as_millis(self) -> i64 {
        self.0
    }

    pub fn plus_seconds(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs.saturating_mul(1000)))
    }

    fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0).single().unwrap_or_default()
    }
}

impl fmt::Display for Timestamp {
    /// Written straight into the output: every message of a history page
    /// carries one, and chrono's `to_rfc3339_opts` builds a `String` for each.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.to_datetime();
        if !(0..=9999).contains(&t.year()) {
            return f.write_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true));
        }
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.timestamp_subsec_millis()
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| Self(t.timestamp_millis()))
            .map_err(|e| serde::de::Error::custom(format!("not an RFC 3339 time: {e}")))
    }
}

/// Where "now" comes from; injected so tests can hold time still.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp(Utc::now().timestamp_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timestamp_is_written_as_rfc3339_utc_with_milliseconds() {
        let t = Timestamp::from_millis(1_795_492_347_123);
        assert_eq!(t.to_string(), "2026-11-24T03:52:27.123Z");
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"2026-11-24T03:52:27.123Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>("\"2026-11-24T03:52:27.123Z\"").unwrap(), t);
    }

    #[test]
    fn the_written_form_is_chronos_rfc3339_for_every_year() {
        let samples = [0, 1, 999, 1_000, -1, -62_135_596_800_000, 253_402_300_799_999, 253_402_300_800_000, 1_795_492_347_120];
        for ms in samples {
            let t = Timestamp::from_millis(ms);
            assert_eq!(t.to_string(), t.to_datetime().to_rfc3339_opts(SecondsFormat::Millis, true), "{ms}");
        }
    }
}
