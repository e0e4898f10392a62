//! Limits: requests per minute, hour and day; tokens per minute and day. `None` is no limit.

use serde::Serialize;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Limits {
    pub rpm: Option<u64>,
    pub rph: Option<u64>,
    pub rpd: Option<u64>,
    pub tpm: Option<u64>,
    pub tpd: Option<u64>,
}

impl Limits {
    pub fn is_unlimited(&self) -> bool {
        *self == Limits::default()
    }

    /// The tighter of two limits, field by field.
    pub fn tighter(self, other: Limits) -> Limits {
        fn min(a: Option<u64>, b: Option<u64>) -> Option<u64> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, None) => a,
                (None, b) => b,
            }
        }
        Limits {
            rpm: min(self.rpm, other.rpm),
            rph: min(self.rph, other.rph),
            rpd: min(self.rpd, other.rpd),
            tpm: min(self.tpm, other.tpm),
            tpd: min(self.tpd, other.tpd),
        }
    }

    /// `override_` where it sets a value, else `self`: an admin's override replaces the
    /// default even when it is looser.
    pub fn overridden_by(self, override_: Limits) -> Limits {
        Limits {
            rpm: override_.rpm.or(self.rpm),
            rph: override_.rph.or(self.rph),
            rpd: override_.rpd.or(self.rpd),
            tpm: override_.tpm.or(self.tpm),
            tpd: override_.tpd.or(self.tpd),
        }
    }

    /// As stored: `None` is no limit; values beyond the column types are clamped.
    pub fn to_columns(self) -> crate::store::limits::LimitColumns {
        let small = |v: Option<u64>| v.map(|v| i32::try_from(v).unwrap_or(i32::MAX));
        let big = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
        crate::store::limits::LimitColumns {
            rpm: small(self.rpm),
            rph: small(self.rph),
            rpd: small(self.rpd),
            tpm: big(self.tpm),
            tpd: big(self.tpd),
        }
    }

    /// As stored; a negative value is no limit.
    pub fn from_columns(columns: crate::store::limits::LimitColumns) -> Limits {
        let [rpm, rph, rpd, tpm, tpd] = columns
            .values()
            .map(|v| v.and_then(|v| u64::try_from(v).ok()));
        Limits {
            rpm,
            rph,
            rpd,
            tpm,
            tpd,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tighter_and_overrides() {
        let a = Limits {
            rpm: Some(30),
            tpd: Some(1000),
            ..Limits::default()
        };
        let b = Limits {
            rpm: Some(10),
            rpd: Some(50),
            ..Limits::default()
        };
        assert_eq!(
            a.tighter(b),
            Limits {
                rpm: Some(10),
                rpd: Some(50),
                tpd: Some(1000),
                ..Limits::default()
            }
        );
        assert_eq!(
            a.overridden_by(Limits {
                rpm: Some(60),
                ..Limits::default()
            })
            .rpm,
            Some(60)
        );
        assert!(Limits::default().is_unlimited());
        assert_eq!(
            Limits::from_columns(crate::store::limits::LimitColumns {
                rpm: Some(-1),
                rpd: Some(5),
                tpd: Some(7),
                ..Default::default()
            })
            .rpd,
            Some(5)
        );
    }
}
