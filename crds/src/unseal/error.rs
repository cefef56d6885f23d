//! [`UnsealError`]: why a SealedSecret does not open, with Bitnami's wording for items no key
//! could decrypt. The one place that message is written.

use crate::{ScopeError, SpecProblem};

/// Why a SealedSecret does not open or unseal. The controller puts the text into the
/// `ErrUnsealFailed` event (as `Failed to unseal: <text>`) and the Synced condition; `kseal
/// unseal` and `kseal rotate` print it. Messages name items, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnsealError {
    /// Items could not be decrypted (wrong key, wrong scope, tampering) or are not base64.
    /// With decryption failures only, the text is exactly Bitnami's.
    #[error("{}", decrypt_message(failed, bad_base64))]
    Decrypt {
        /// Items no key could open, in document order.
        failed: Vec<String>,
        /// Items whose value is not valid standard base64.
        bad_base64: Vec<String>,
    },
    /// `encryptedData` and the legacy `data` are both set.
    #[error(
        "cannot use the field 'encryptedData' and the deprecated field 'data' at the same time"
    )]
    BothFormats,
    /// The legacy `spec.data` is set and `--accept-deprecated-v1-data=false`.
    #[error(
        "the deprecated field 'data' is not accepted by this controller (--accept-deprecated-v1-data=false); re-seal the Secret into 'encryptedData'"
    )]
    V1Disabled,
    /// The legacy blob decrypted, but not to a JSON Secret.
    #[error("the deprecated field 'data' does not hold a Secret")]
    V1NotASecret,
    /// The SealedSecret's name or namespace cannot form the scope label.
    #[error("{0}")]
    Scope(ScopeError),
    /// The spec is malformed (deserialization tolerated it so other objects keep flowing).
    #[error("{}", problems_message(.0))]
    Spec(Vec<SpecProblem>),
    /// `spec.template.data` did not render.
    #[error("{0}")]
    Template(kseal_template::TemplateError),
    /// The unsealed data exceeds what a Secret may hold.
    #[error("unsealed data is {bytes} bytes, over the 1 MiB limit of a Secret")]
    TooLarge {
        /// Total size of all values.
        bytes: usize,
    },
}

/// Bitnami's words for items no key opened, followed by the item names in parentheses. Callers
/// that read a controller's answer (`kseal rotate` through `/v1/rotate`) match on it.
pub const NO_KEY_COULD_DECRYPT: &str = "no key could decrypt secret";

/// How many items or problems a message names; the rest are counted. A SealedSecret may hold
/// any number of broken items, and the message lands in its status, an event and a log line.
const NAMED_AT_MOST: usize = 20;

/// The first [`NAMED_AT_MOST`] of `parts` joined by `separator`, then `and N more` if any.
fn capped(parts: impl ExactSizeIterator<Item = String>, separator: &str) -> String {
    let more = parts.len().saturating_sub(NAMED_AT_MOST);
    let mut text = parts
        .take(NAMED_AT_MOST)
        .collect::<Vec<_>>()
        .join(separator);
    if more > 0 {
        text.push_str(&format!("{separator}and {more} more"));
    }
    text
}

fn decrypt_message(failed: &[String], bad_base64: &[String]) -> String {
    let mut parts = Vec::new();
    if !bad_base64.is_empty() {
        parts.push(capped(
            bad_base64
                .iter()
                .map(|item| format!("item {item:?}: value is not valid base64")),
            "; ",
        ));
    }
    if !failed.is_empty() {
        parts.push(format!(
            "{NO_KEY_COULD_DECRYPT} ({})",
            capped(failed.iter().cloned(), ", ")
        ));
    }
    parts.join("; ")
}

fn problems_message(problems: &[SpecProblem]) -> String {
    capped(problems.iter().map(ToString::to_string), "; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitnami_wording() {
        let e = UnsealError::Decrypt {
            failed: vec!["k1".into(), "k2".into()],
            bad_base64: vec![],
        };
        assert_eq!(e.to_string(), "no key could decrypt secret (k1, k2)");
        let e = UnsealError::Decrypt {
            failed: vec!["B".into()],
            bad_base64: vec!["A".into()],
        };
        assert_eq!(
            e.to_string(),
            "item \"A\": value is not valid base64; no key could decrypt secret (B)"
        );
    }

    #[test]
    fn many_broken_items_give_a_short_message() {
        let names = |p: &str| (0..100_000).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
        let e = UnsealError::Decrypt {
            failed: names("k"),
            bad_base64: names("b"),
        };
        let text = e.to_string();
        assert!(text.len() < 2048, "{} bytes", text.len());
        assert!(text.contains("k19, and 99980 more)"), "{text}");
        assert!(text.contains("; and 99980 more; no key could decrypt secret (k0, k1,"));
    }
}
