//! Which credential algorithms a virtual authenticator offers, most preferred first:
//! getInfo's `algorithms` (CTAP 2.1 §6.4) and what makeCredential may pick from the RP's
//! `pubKeyCredParams` (§6.1.2 step 3: the first of the RP's list that is offered).

use core::fmt;

use ctap2_proto::Algorithm;

/// Every algorithm this authenticator can make credentials with, in the default order
/// of preference: the two every authenticator has, then the other classical ones
/// (smallest signatures first), then ML-DSA (FIPS 204; signatures of 2.4-4.6 KB).
const ALL: [Algorithm; 9] = [
    Algorithm::ES256,
    Algorithm::EDDSA,
    Algorithm::ES384,
    Algorithm::ES512,
    Algorithm::ES256K,
    Algorithm::RS256,
    Algorithm::ML_DSA_44,
    Algorithm::ML_DSA_65,
    Algorithm::ML_DSA_87,
];

/// The names [`Algorithms::parse`] takes (lower case), as the COSE registry and
/// python-fido2 spell them.
const NAMES: [(&str, Algorithm); 9] = [
    ("es256", Algorithm::ES256),
    ("eddsa", Algorithm::EDDSA),
    ("es384", Algorithm::ES384),
    ("es512", Algorithm::ES512),
    ("es256k", Algorithm::ES256K),
    ("rs256", Algorithm::RS256),
    ("ml-dsa-44", Algorithm::ML_DSA_44),
    ("ml-dsa-65", Algorithm::ML_DSA_65),
    ("ml-dsa-87", Algorithm::ML_DSA_87),
];

/// An ordered set of credential algorithms, most preferred first; at least one, no
/// duplicates, each one this authenticator implements. `Copy`, like the rest of
/// [`Config`](crate::Config).
///
/// ```
/// use ctap_virtual::Algorithms;
/// use ctap2_proto::Algorithm;
///
/// let offered = Algorithms::parse("es256,rs256")?;
/// assert_eq!(offered.as_slice(), [Algorithm::ES256, Algorithm::RS256]);
/// assert!(Algorithms::parse("es256,rs1").is_err());
/// assert_eq!(Algorithms::default().as_slice().len(), 9);
/// # Ok::<(), ctap_virtual::AlgorithmsError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Algorithms {
    list: [Algorithm; ALL.len()],
    len: usize,
}

/// Why an algorithm list was refused.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum AlgorithmsError {
    /// The list is empty.
    #[error("the algorithm list is empty: at least one algorithm must be offered")]
    Empty,
    /// An algorithm this authenticator does not implement.
    #[error(
        "algorithm {0} is not one this authenticator implements (es256, eddsa, es384, es512, es256k, rs256, ml-dsa-44, ml-dsa-65, ml-dsa-87)"
    )]
    Unsupported(String),
    /// An algorithm listed twice.
    #[error("algorithm {0} is listed twice")]
    Duplicate(String),
}

impl Algorithms {
    /// All nine, in the default order (ES256, EdDSA, ES384, ES512, ES256K, RS256,
    /// ML-DSA-44, ML-DSA-65, ML-DSA-87).
    pub const ALL: Self = Self {
        list: ALL,
        len: ALL.len(),
    };

    /// The algorithms of `list`, in its order.
    ///
    /// # Errors
    /// When `list` is empty, names an algorithm twice, or names one this authenticator
    /// does not implement.
    pub fn new(list: &[Algorithm]) -> Result<Self, AlgorithmsError> {
        if list.is_empty() {
            return Err(AlgorithmsError::Empty);
        }
        let mut out = Self { list: ALL, len: 0 };
        for alg in list {
            if !ALL.contains(alg) {
                return Err(AlgorithmsError::Unsupported(alg.0.to_string()));
            }
            if out.contains(*alg) {
                return Err(AlgorithmsError::Duplicate(alg.0.to_string()));
            }
            if let Some(slot) = out.list.get_mut(out.len) {
                *slot = *alg;
                out.len += 1;
            }
        }
        Ok(out)
    }

    /// A comma-separated list of names (`es256,eddsa,es384,es512,es256k,rs256,
    /// ml-dsa-44,ml-dsa-65,ml-dsa-87`, any case) or COSE ids (`-7,-257`).
    ///
    /// # Errors
    /// As [`new`](Self::new), and for a name that is neither.
    pub fn parse(text: &str) -> Result<Self, AlgorithmsError> {
        let list = text
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| {
                let lower = name.to_ascii_lowercase();
                NAMES
                    .iter()
                    .find(|(known, _)| *known == lower)
                    .map(|(_, alg)| *alg)
                    .or_else(|| name.parse::<i32>().ok().map(Algorithm))
                    .ok_or_else(|| AlgorithmsError::Unsupported(name.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(&list)
    }

    /// The algorithms, most preferred first.
    #[must_use]
    pub fn as_slice(&self) -> &[Algorithm] {
        self.list.get(..self.len).unwrap_or(&[])
    }

    /// Whether `alg` is offered.
    #[must_use]
    pub fn contains(&self, alg: Algorithm) -> bool {
        self.as_slice().contains(&alg)
    }

    /// The name of `alg` as [`parse`](Self::parse) takes it, if it is one of ours.
    #[must_use]
    pub fn name(alg: Algorithm) -> Option<&'static str> {
        NAMES.iter().find(|(_, a)| *a == alg).map(|(name, _)| *name)
    }
}

impl Default for Algorithms {
    /// [`Algorithms::ALL`]: a test suite written for real keys finds every algorithm it
    /// may ask for.
    fn default() -> Self {
        Self::ALL
    }
}

impl fmt::Debug for Algorithms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_checked() {
        assert_eq!(Algorithms::new(&[]), Err(AlgorithmsError::Empty));
        assert_eq!(
            Algorithms::new(&[Algorithm::ES256, Algorithm::ES256]),
            Err(AlgorithmsError::Duplicate("-7".into()))
        );
        assert_eq!(
            Algorithms::new(&[Algorithm(-65535)]),
            Err(AlgorithmsError::Unsupported("-65535".into()))
        );
        let parsed = Algorithms::parse(" RS256, -7 ,ml-dsa-87").unwrap();
        assert_eq!(
            parsed.as_slice(),
            [Algorithm::RS256, Algorithm::ES256, Algorithm::ML_DSA_87]
        );
        assert!(parsed.contains(Algorithm::ES256));
        assert!(!parsed.contains(Algorithm::EDDSA));
        assert_eq!(
            Algorithms::parse("es256,nope"),
            Err(AlgorithmsError::Unsupported("nope".into()))
        );
        for (name, alg) in NAMES {
            assert_eq!(Algorithms::name(alg), Some(name));
            assert_eq!(Algorithms::parse(name).unwrap().as_slice(), [alg]);
        }
        assert_eq!(Algorithms::default().as_slice(), ALL);
    }
}
