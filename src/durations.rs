//! Durations as the command line takes them (`90m`, `26h`, `8d`: `watch
//! --every`, `check --max-age`) and as messages say them (`27h 3m`).

use std::time::Duration;

/// A whole number and a unit: `s`, `m`, `h` or `d` (`1s`, `90m`, `26h`,
/// `8d`); at least one second.
pub fn parse(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration: say 1s, 90m, 26h or 8d");
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number.parse().map_err(|_| bad())?;
    let unit_seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let seconds = n.checked_mul(unit_seconds).ok_or_else(bad)?;
    if seconds == 0 {
        return Err("a duration must be at least 1s".into());
    }
    Ok(Duration::from_secs(seconds))
}

/// A duration as people read it, to the two largest units: `40s`, `5m 3s`,
/// `27h 3m`, `9d 2h`.
pub fn words(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, minutes, seconds) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match () {
        _ if days > 0 && hours > 0 => format!("{days}d {hours}h"),
        _ if days > 0 => format!("{days}d"),
        _ if s >= 3600 && minutes > 0 => format!("{}h {minutes}m", s / 3600),
        _ if s >= 3600 => format!("{}h", s / 3600),
        _ if minutes > 0 && seconds > 0 => format!("{minutes}m {seconds}s"),
        _ if minutes > 0 => format!("{minutes}m"),
        _ => format!("{seconds}s"),
    }
}

/// How a limit given as a duration is said back: `26h` for 93,600 s, as
/// the user most likely wrote it.
pub fn limit_words(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if s.is_multiple_of(size) {
            return format!("{}{unit}", s / size);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(parse("1s").unwrap().as_secs(), 1);
        assert_eq!(parse("90m").unwrap().as_secs(), 5400);
        assert_eq!(parse("26h").unwrap().as_secs(), 93_600);
        assert_eq!(parse("8d").unwrap().as_secs(), 691_200);
        for bad in [
            "",
            "0s",
            "5",
            "m",
            "1.5m",
            "-1s",
            "1w",
            "1 s",
            "99999999999999999999d",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn says() {
        let w = |s| words(Duration::from_secs(s));
        assert_eq!(w(0), "0s");
        assert_eq!(w(40), "40s");
        assert_eq!(w(303), "5m 3s");
        assert_eq!(w(600), "10m");
        assert_eq!(w(97_380), "1d 3h");
        assert_eq!(w(3 * 3600 + 59), "3h");
        assert_eq!(w(3 * 3600 + 120), "3h 2m");
        assert_eq!(w(9 * 86_400 + 7200), "9d 2h");
        let l = |s| limit_words(Duration::from_secs(s));
        assert_eq!(l(93_600), "26h");
        assert_eq!(l(5400), "90m");
        assert_eq!(l(691_200), "8d");
        assert_eq!(l(61), "61s");
    }
}
