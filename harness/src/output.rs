//! Where results go by default, and the time stamps in their names and contents. (They are
//! written atomically by `report`'s export manager.)

/// Directory for results when `--out` is not given, relative to the working directory.
pub const DEFAULT_DIR: &str = "lwcbench-results";

/// The current time, RFC 3339 in UTC with seconds (`2025-01-01T12:00:00Z`).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A file-name-safe UTC timestamp (`20250101T120000Z`).
pub fn now_file_stamp() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_stamp_is_file_name_safe() {
        let s = now_file_stamp();
        assert!(s.chars().all(|c| c.is_ascii_alphanumeric()), "{s}");
    }
}
