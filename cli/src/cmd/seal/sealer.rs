//! One certificate and the value format (`--encryption`, kseal.yaml's `encryption:`) that
//! `kseal seal` writes with it, checked once before anything is sealed; and the size warnings
//! for the SealedSecrets it writes (`docs/pq-format.md` §7).

use kseal_core::{Certificate, Encryption, Scope, SecretKeyName};

use crate::{
    args::EncryptionArg,
    cmd::verify::MAX_ANNOTATION_BYTES,
    exit::{Failure, Result},
    say,
};

/// Seals values for one certificate in one format.
pub(super) struct Sealer<'a> {
    cert: &'a Certificate,
    encryption: Encryption,
}

impl<'a> Sealer<'a> {
    /// Fails when `encryption` is `pq-hybrid` and `cert` carries no X-Wing key
    /// ([`require_pq_key`]).
    pub(super) fn new(cert: &'a Certificate, encryption: Encryption, what: &str) -> Result<Self> {
        require_pq_key(cert, encryption, what)?;
        Ok(Self { cert, encryption })
    }

    /// The certificate (its fingerprint is the SealedSecret's key hint in both formats).
    pub(super) fn cert(&self) -> &'a Certificate {
        self.cert
    }

    /// One value as `spec.encryptedData.<item>` holds it. `pq-hybrid` binds the item key too.
    pub(super) fn seal(&self, scope: &Scope, item: &SecretKeyName, value: &[u8]) -> String {
        self.encryption
            .seal_base64(self.cert, scope, item, value)
            .expect("invariant: Sealer::new checked that the certificate has the key")
    }
}

/// `--encryption`'s choice.
impl From<EncryptionArg> for Encryption {
    fn from(arg: EncryptionArg) -> Self {
        match arg {
            EncryptionArg::Rsa => Self::Rsa,
            EncryptionArg::PqHybrid => Self::PqHybrid,
        }
    }
}

/// Fails when `encryption` is `pq-hybrid` and `cert` (named `what` in the message) carries no
/// X-Wing key: certificates of Bitnami keys, and of kseal keys made before kseal issued one,
/// until the controller's next renewal. Used by `kseal seal` and `kseal rotate --encryption`.
pub(crate) fn require_pq_key(cert: &Certificate, encryption: Encryption, what: &str) -> Result<()> {
    if encryption == Encryption::PqHybrid && cert.pq_public_key().is_none() {
        return Err(Failure::input(format!(
            "certificate {what} has no post-quantum (X-Wing) key, which --encryption pq-hybrid needs"
        ))
        .hint(
            "renew the controller's key (SIGUSR1, or wait for its renewal) so it issues a certificate with one, then fetch it again with `kseal cert`",
        )
        .hint("or use --encryption rsa (the default)"));
    }
    Ok(())
}

/// Objects this large come close to etcd's default request limit (1.5 MiB), past which the API
/// server cannot store them.
const OBJECT_LIMIT: usize = 1024 * 1024;

/// Warns when one SealedSecret, as JSON (`json_len` bytes, the form the annotation and the API
/// server hold), may not be applied: over 1 MiB at all, over 256 KiB
/// ([`MAX_ANNOTATION_BYTES`], the rule `kseal verify` checks too) by client-side apply.
pub(super) fn warn_size(name: &str, json_len: usize, encryption: Encryption) {
    let kib = json_len.div_ceil(1024);
    let smaller = match encryption {
        // Each pq-hybrid item is about 816 base64 characters larger than with RSA-4096.
        Encryption::PqHybrid => "; --encryption rsa makes each item about 0.8 KiB smaller",
        Encryption::Rsa => "",
    };
    if json_len > OBJECT_LIMIT {
        say::warning(format_args!(
            "SealedSecret '{name}' is {kib} KiB, over 1 MiB: near etcd's 1.5 MiB request limit, past which the API server cannot store it; split it into several Secrets{smaller}"
        ));
    } else if json_len > MAX_ANNOTATION_BYTES {
        say::warning(format_args!(
            "SealedSecret '{name}' is {kib} KiB: `kubectl apply` without --server-side stores it in an annotation limited to 256 KiB and fails; apply it with `kubectl apply --server-side`{smaller}"
        ));
    }
}
