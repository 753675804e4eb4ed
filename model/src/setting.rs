//! How much work a run does, and tables of values per setting.

use serde::{Deserialize, Serialize};

/// How much work a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Setting {
    /// Tiny iteration counts: for tests of the pipeline only, never for numbers.
    Smoke,
    /// The whole suite in about two minutes on two cores.
    Quick,
    /// Paper-grade: more repetitions and wider sweeps.
    Full,
}

impl Setting {
    /// Every setting, smallest first.
    pub const ALL: [Setting; 3] = [Setting::Smoke, Setting::Quick, Setting::Full];

    /// The setting's name in JSON and on the command line (`smoke`, `quick`, `full`).
    pub fn name(self) -> &'static str {
        match self {
            Setting::Smoke => "smoke",
            Setting::Quick => "quick",
            Setting::Full => "full",
        }
    }

    /// The setting called `name`.
    pub fn from_name(name: &str) -> Option<Setting> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One value per setting: an experiment's sweep or sampling plan written as a table, not as a
/// `match` per knob.
///
/// ```
/// use model::{PerSetting, Setting};
/// const RUNS: PerSetting<u32> = PerSetting { smoke: 3, quick: 5, full: 10 };
/// assert_eq!(*RUNS.get(Setting::Quick), 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerSetting<T> {
    /// The value for [`Setting::Smoke`].
    pub smoke: T,
    /// The value for [`Setting::Quick`].
    pub quick: T,
    /// The value for [`Setting::Full`].
    pub full: T,
}

impl<T> PerSetting<T> {
    /// The value for `setting`.
    pub const fn get(&self, setting: Setting) -> &T {
        match setting {
            Setting::Smoke => &self.smoke,
            Setting::Quick => &self.quick,
            Setting::Full => &self.full,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for s in Setting::ALL {
            assert_eq!(Setting::from_name(s.name()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).expect("json"),
                format!("\"{}\"", s.name())
            );
        }
        assert_eq!(Setting::from_name("medium"), None);
    }

    #[test]
    fn per_setting_picks_its_own_value() {
        let t = PerSetting {
            smoke: 1,
            quick: 2,
            full: 3,
        };
        let got: Vec<i32> = Setting::ALL.iter().map(|s| *t.get(*s)).collect();
        assert_eq!(got, [1, 2, 3]);
    }
}
