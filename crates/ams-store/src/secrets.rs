//! Secrets at rest: refresh tokens and client secrets are stored as AES-256-GCM ciphertexts.
//!
//! * The key is `AMS_HUB_SECRET_KEY`: 32 random bytes, base64 (`openssl rand -base64 32`).
//! * A ciphertext is `v1` ‖ key id (4 bytes: the start of the key's SHA-256) ‖ nonce (12
//!   random bytes) ‖ AES-GCM output. The key id says which key sealed it, so rotation works:
//!   put the old key in `AMS_HUB_SECRET_KEY_PREVIOUS` (comma-separated, still readable), the new
//!   one in `AMS_HUB_SECRET_KEY`, run `ams-hub rotate-secrets` (re-seals every secret with the
//!   new key), then drop the old key.
//! * Every ciphertext is bound to where it is stored (associated data such as
//!   `ads_connections.refresh_token:<id>`): a ciphertext copied into another row or column
//!   does not open there.
//!
//! Secrets are opened only to be sent to Amazon; they are never logged and never returned.

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

const VERSION: &[u8; 2] = b"v1";
const KEY_ID: usize = 4;
const NONCE: usize = 12;

/// Why a secret could not be sealed or opened. Never holds the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("AMS_HUB_SECRET_KEY is not set: ams-hub cannot store secrets (set it to 32 random bytes, base64: `openssl rand -base64 32`)")]
    NoKey,
    #[error("{0} is not 32 bytes of base64 (make one with `openssl rand -base64 32`)")]
    BadKey(&'static str),
    #[error("a secret was sealed with a key this process does not have (key id {0}); put that key in AMS_HUB_SECRET_KEY_PREVIOUS")]
    UnknownKey(String),
    #[error("a stored secret does not open: wrong key, or the ciphertext was altered or moved")]
    Corrupt,
}

struct SealingKey {
    id: [u8; KEY_ID],
    cipher: Aes256Gcm,
    /// A separate key for signatures (HMAC-SHA256), derived from the sealing key.
    mac: [u8; 32],
}

impl SealingKey {
    fn new(bytes: &[u8; 32]) -> SealingKey {
        let digest = Sha256::digest(bytes);
        let mut id = [0u8; KEY_ID];
        id.copy_from_slice(&digest[..KEY_ID]);
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(bytes).expect("any key length").chain_update(b"ams-hub signing key").finalize();
        SealingKey { id, cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(bytes)), mac: mac.into_bytes().into() }
    }
}

/// The current key (seals and opens) and earlier ones (open only).
#[derive(Clone)]
pub struct Keyring {
    keys: std::sync::Arc<Vec<SealingKey>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key ids only: never the keys.
        let ids: Vec<String> = self.keys.iter().map(|k| hex(&k.id)).collect();
        f.debug_struct("Keyring").field("key_ids", &ids).finish()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_key(text: &str, name: &'static str) -> Result<[u8; 32], SecretError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim()).map_err(|_| SecretError::BadKey(name))?;
    bytes.try_into().map_err(|_| SecretError::BadKey(name))
}

impl Keyring {
    /// `current` seals; `previous` (comma-separated base64 keys) only open.
    pub fn new(current: &str, previous: Option<&str>) -> Result<Keyring, SecretError> {
        let mut keys = vec![SealingKey::new(&decode_key(current, "AMS_HUB_SECRET_KEY")?)];
        for old in previous.unwrap_or("").split(',').map(str::trim).filter(|k| !k.is_empty()) {
            keys.push(SealingKey::new(&decode_key(old, "AMS_HUB_SECRET_KEY_PREVIOUS")?));
        }
        Ok(Keyring { keys: std::sync::Arc::new(keys) })
    }

    /// A key made now, known to this process only (what it seals does not outlive it).
    pub fn random() -> Keyring {
        use aes_gcm::aead::rand_core::RngCore;
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Keyring { keys: std::sync::Arc::new(vec![SealingKey::new(&bytes)]) }
    }

    /// Seals `secret` for the place `context` names.
    pub fn seal(&self, secret: &str, context: &str) -> Vec<u8> {
        let key = &self.keys[0];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = key
            .cipher
            .encrypt(&nonce, Payload { msg: secret.as_bytes(), aad: context.as_bytes() })
            .expect("AES-GCM encryption of a short secret cannot fail");
        let mut out = Vec::with_capacity(VERSION.len() + KEY_ID + NONCE + sealed.len());
        out.extend_from_slice(VERSION);
        out.extend_from_slice(&key.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens what [`Keyring::seal`] sealed for the same `context`.
    pub fn open(&self, sealed: &[u8], context: &str) -> Result<String, SecretError> {
        let head = VERSION.len() + KEY_ID + NONCE;
        if sealed.len() < head || &sealed[..VERSION.len()] != VERSION {
            return Err(SecretError::Corrupt);
        }
        let id = &sealed[VERSION.len()..VERSION.len() + KEY_ID];
        let key = self.keys.iter().find(|k| k.id == id).ok_or_else(|| SecretError::UnknownKey(hex(id)))?;
        let nonce = Nonce::from_slice(&sealed[VERSION.len() + KEY_ID..head]);
        let plain = key
            .cipher
            .decrypt(nonce, Payload { msg: &sealed[head..], aad: context.as_bytes() })
            .map_err(|_| SecretError::Corrupt)?;
        String::from_utf8(plain).map_err(|_| SecretError::Corrupt)
    }

    /// An HMAC-SHA256 of `data` with the current key (signed, expiring OAuth `state`s).
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.keys[0].mac).expect("any key length").chain_update(data).finalize().into_bytes().to_vec()
    }

    /// Whether `signature` is [`Keyring::sign`]'s of `data` (compared in constant time).
    pub fn verify(&self, data: &[u8], signature: &[u8]) -> bool {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.keys[0].mac).expect("any key length").chain_update(data).verify_slice(signature).is_ok()
    }

    /// Whether `sealed` was sealed with the current key (rotation skips those).
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        sealed.get(VERSION.len()..VERSION.len() + KEY_ID) == Some(&self.keys[0].id[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "HxweHRwbGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgE=";

    #[test]
    fn a_sealed_secret_opens_only_in_its_place_and_never_shows_in_clear() {
        let ring = Keyring::new(K1, None).unwrap();
        let sealed = ring.seal("Atzr|refresh-token-value", "ads_connections.refresh_token:1");
        assert!(!sealed.windows(7).any(|w| w == b"refresh"), "the ciphertext holds the secret in clear");
        assert_eq!(ring.open(&sealed, "ads_connections.refresh_token:1").unwrap(), "Atzr|refresh-token-value");
        assert_eq!(ring.open(&sealed, "ads_connections.refresh_token:2"), Err(SecretError::Corrupt));
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(ring.open(&altered, "ads_connections.refresh_token:1"), Err(SecretError::Corrupt));
        // Two seals of one secret differ (random nonces).
        assert_ne!(sealed, ring.seal("Atzr|refresh-token-value", "ads_connections.refresh_token:1"));
    }

    #[test]
    fn rotation_opens_old_ciphertexts_with_the_previous_key_and_seals_with_the_new() {
        let old = Keyring::new(K1, None).unwrap();
        let sealed = old.seal("s3cret", "ads_apps.client_secret:t");
        let new_only = Keyring::new(K2, None).unwrap();
        assert!(matches!(new_only.open(&sealed, "ads_apps.client_secret:t"), Err(SecretError::UnknownKey(_))));
        let rotating = Keyring::new(K2, Some(K1)).unwrap();
        assert!(!rotating.is_current(&sealed));
        assert_eq!(rotating.open(&sealed, "ads_apps.client_secret:t").unwrap(), "s3cret");
        let resealed = rotating.seal("s3cret", "ads_apps.client_secret:t");
        assert!(rotating.is_current(&resealed));
        assert_eq!(new_only.open(&resealed, "ads_apps.client_secret:t").unwrap(), "s3cret");
    }

    #[test]
    fn signatures_verify_only_for_their_data_and_key() {
        let ring = Keyring::new(K1, None).unwrap();
        let sig = ring.sign(b"state");
        assert!(ring.verify(b"state", &sig));
        assert!(!ring.verify(b"statf", &sig));
        assert!(!Keyring::new(K2, None).unwrap().verify(b"state", &sig));
    }

    #[test]
    fn bad_keys_are_clear_errors_that_do_not_echo_the_key() {
        let e = Keyring::new("c2hvcnQ=", None).unwrap_err();
        assert_eq!(e, SecretError::BadKey("AMS_HUB_SECRET_KEY"));
        assert!(!e.to_string().contains("c2hvcnQ"));
        assert!(Keyring::new(K1, Some("nope")).is_err());
        assert!(!format!("{:?}", Keyring::new(K1, None).unwrap()).contains(K1));
    }
}
