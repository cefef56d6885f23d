//! The checks every single-value vector goes through, whoever sealed it: the committed generator
//! files, kubeseal's recordings and the production seal path's output. The expectations are
//! described in `tests/vectors/README.md`.

use kseal_core::{Fingerprint, KeySet, Scope, ScopeKind, open_base64, sealed, sealed::SealedValue};
use kseal_tests::vectors::{self, COARSE_ERROR, Expect, Vector};
use sha2::{Digest as _, Sha256};

/// Every expectation of one vector.
pub(crate) fn check(v: &Vector) -> Result<(), String> {
    let scope = v.decrypt_scope()?;
    if let Some(annotations) = &v.annotations {
        let derived = vectors::scope_from_annotations(annotations);
        if derived != v.scope {
            return Err(format!(
                "annotations give scope {derived}, header says {}",
                v.scope
            ));
        }
    }
    // A body that is not UTF-8 cannot be base64; `open_base64` takes text, so such a body is
    // checked only as a decoding failure.
    let text = std::str::from_utf8(&v.body).ok();
    let decoded = text.map(sealed::decode_base64);

    match v.expect {
        Expect::Base64Failure => {
            if let Some(Ok(_)) = decoded {
                return Err("base64 decoded, expected a decoding failure".into());
            }
        }
        Expect::TooShort => {
            let bytes = decoded_bytes(decoded)?;
            if SealedValue::parse(&bytes).is_ok() {
                return Err(format!(
                    "{} bytes split into RSA block and AES part, expected too short",
                    bytes.len()
                ));
            }
        }
        Expect::OpenFailure | Expect::Success => {
            let bytes = decoded_bytes(decoded)?;
            let value = SealedValue::parse(&bytes)
                .map_err(|_| "blob is too short, expected it to split")?;
            // Non-malleability: the parsed value serialises to exactly the decoded bytes.
            if value.to_bytes() != bytes {
                return Err("SealedValue::parse then to_bytes changed the bytes".into());
            }
        }
    }

    let text = text.unwrap_or_default();
    match v.expect {
        Expect::Success => check_success(v, &scope, text),
        _ => {
            // The whole key set, then each key alone (M3: fails for every key in the set).
            expect_coarse_error(
                &vectors::load_key_set(v.key_files())?,
                &scope,
                text,
                "the key set",
            )?;
            if v.key_files().len() > 1 {
                for file in v.key_files() {
                    expect_coarse_error(&vectors::load_key_set([file])?, &scope, text, file)?;
                }
            }
            Ok(())
        }
    }
}

fn decoded_bytes(
    decoded: Option<Result<Vec<u8>, kseal_core::OpenError>>,
) -> Result<Vec<u8>, String> {
    match decoded {
        Some(Ok(bytes)) => Ok(bytes),
        Some(Err(_)) => Err("base64 does not decode".into()),
        None => Err("body is not UTF-8".into()),
    }
}

pub(crate) fn expect_coarse_error(
    keys: &KeySet,
    scope: &Scope,
    text: &str,
    which: &str,
) -> Result<(), String> {
    match open_base64(keys, scope, text, None) {
        // Never print the plaintext, even of a test vector that opened by mistake.
        Ok(opened) => Err(format!(
            "opened with {which} ({} plaintext bytes), expected a failure",
            opened.plaintext.len()
        )),
        Err(e) if e.to_string() == COARSE_ERROR => Ok(()),
        Err(e) => Err(format!(
            "error text {:?}, expected {COARSE_ERROR:?}",
            e.to_string()
        )),
    }
}

fn check_success(v: &Vector, scope: &Scope, text: &str) -> Result<(), String> {
    let expected_digest = v.plaintext_sha256.as_deref().ok_or("no plaintext-sha256")?;
    let key = vectors::load_key(&v.key)?;
    let fingerprint: Fingerprint = key.fingerprint().clone();

    // R7: the length prefix is the opening key's modulus size, hence `AQ` / `Ag`.
    let bytes = sealed::decode_base64(text).map_err(|_| "base64 does not decode")?;
    // `check` has already split the blob, so it has its 2-byte prefix.
    let prefix = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
    if prefix != key.modulus_len() {
        return Err(format!(
            "length prefix {prefix}, but {} has a {}-byte modulus",
            v.key,
            key.modulus_len()
        ));
    }
    let text_prefix = match key.modulus_len() {
        256 => Some("AQ"),
        512 => Some("Ag"),
        _ => None,
    };
    if let Some(p) = text_prefix
        && !text.starts_with(p)
    {
        return Err(format!("body does not start with {p}"));
    }

    // R8: the outcome does not depend on the order of the key set.
    for order in permutations(&v.key_files()) {
        let keys = vectors::load_key_set(order.iter().copied())?;
        let opened = open_base64(&keys, scope, text, None)
            .map_err(|e| format!("key order {order:?}: {e}, expected success"))?;
        // §2: u16 length ‖ RSA block of k bytes ‖ AES-GCM ciphertext as long as the plaintext
        // ‖ 16-byte tag, nothing before or after.
        let want_len = sealed::sealed_len(key.modulus_len(), opened.plaintext.len());
        if bytes.len() != want_len {
            return Err(format!(
                "{} bytes, expected 2 + {} + {} + 16 = {want_len}",
                bytes.len(),
                key.modulus_len(),
                opened.plaintext.len()
            ));
        }
        let digest = vectors::hex(&Sha256::digest(opened.plaintext.expose()));
        if digest != expected_digest {
            return Err(format!(
                "key order {order:?}: plaintext SHA-256 {digest}, expected {expected_digest}"
            ));
        }
        if opened.key != fingerprint {
            return Err(format!(
                "key order {order:?}: opened by {}, expected {} ({fingerprint})",
                opened.key, v.key
            ));
        }
        // With the right key as hint, exactly one RSA operation is spent.
        let hinted = open_base64(&keys, scope, text, Some(&fingerprint))
            .map_err(|e| format!("with hint: {e}"))?;
        if hinted.rsa_operations != 1 {
            return Err(format!(
                "with the right hint, {} RSA operations",
                hinted.rsa_operations
            ));
        }
    }

    // The value is bound to exactly the declared label (§4): every other scope fails, as do
    // another name (strict) and another namespace (strict, namespace-wide). Missing metadata
    // (a cluster-wide kubeseal vector) is filled in.
    let namespace = if v.namespace.is_empty() {
        "kseal-other"
    } else {
        &v.namespace
    };
    let name = if v.name.is_empty() {
        "kseal-other"
    } else {
        &v.name
    };
    let keys = vectors::load_key_set(v.key_files())?;
    let mut others: Vec<Scope> = ScopeKind::ALL
        .into_iter()
        .filter(|&kind| kind != v.scope)
        .map(|kind| vectors::scope_of(kind, namespace, name))
        .collect::<Result<_, _>>()?;
    others.push(vectors::scope_of(
        ScopeKind::Strict,
        namespace,
        &format!("{name}-other"),
    )?);
    if v.scope != ScopeKind::ClusterWide {
        others.push(vectors::scope_of(
            v.scope,
            &format!("{namespace}-other"),
            name,
        )?);
    }
    for other in &others {
        expect_coarse_error(&keys, other, text, &format!("scope {other}"))
            .map_err(|e| format!("opened as {other}: {e}"))?;
    }
    Ok(())
}

fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first.clone());
            out.push(tail);
        }
    }
    out
}
