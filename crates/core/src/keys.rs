//! Signing keys: algorithms, key generation, and the key ring.
//!
//! Each key has exactly one algorithm, fixed when it is generated; the
//! verifier takes the algorithm from the key, never from the token header
//! (RFC 8725 §3.1), which is what makes `alg: none` and HS/RS confusion
//! impossible.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self, KeyPair as _, ParsedPublicKey};
use aws_lc_rs::{hmac, rand::SystemRandom};
use serde::Serialize;

use crate::b64;
use crate::id::{Id128, fill_random};

/// A JWS algorithm jwtd can sign with (RFC 7518 names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Ed25519 (RFC 8037).
    EdDSA,
    /// ECDSA P-256 with SHA-256, fixed-width r||s signatures.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys.
    RS256,
    /// HMAC-SHA256 with a 512-bit random secret; no public key to publish.
    HS256,
}

impl Algorithm {
    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
            Self::HS256 => "HS256",
        }
    }

    /// Every supported algorithm.
    pub const ALL: [Algorithm; 4] = [Self::EdDSA, Self::ES256, Self::RS256, Self::HS256];
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| KeyError::UnknownAlgorithm(s.to_owned()))
    }
}

/// Errors from creating or loading keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The algorithm name is not one of EdDSA, ES256, RS256, HS256.
    #[error("unknown algorithm {0:?} (expected EdDSA, ES256, RS256 or HS256)")]
    UnknownAlgorithm(String),
    /// Stored key bytes do not parse as a key of their algorithm.
    #[error("stored key {kid} is not a valid {alg} key")]
    Corrupt {
        /// The key id.
        kid: String,
        /// The algorithm the key claims.
        alg: Algorithm,
    },
    /// The crypto library failed to generate a key.
    #[error("key generation failed")]
    Generation,
    /// A published JWK is not a verification key jwtd would sign with.
    #[error("unusable JWK: {0}")]
    Jwk(&'static str),
}

/// The stored form of a key: what the database keeps.
///
/// `private` is PKCS#8 DER for asymmetric keys and the raw secret for HS256;
/// `public` is what the JWS verification needs (raw Ed25519 key, uncompressed
/// P-256 point, PKCS#1 RSAPublicKey DER; empty for HS256).
#[derive(Clone, PartialEq, Eq)]
pub struct KeyMaterial {
    /// Key id, random, unique across all keys ever generated.
    pub kid: String,
    /// The one algorithm this key signs and verifies with.
    pub alg: Algorithm,
    /// Private key bytes (secret).
    pub private: Vec<u8>,
    /// Public key bytes.
    pub public: Vec<u8>,
}

impl fmt::Debug for KeyMaterial {
    // Never print private key bytes, even in debug logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl KeyMaterial {
    /// Generates a new key for `alg` with a fresh random kid.
    pub fn generate(alg: Algorithm) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let kid = Id128::random().to_string();
        let (private, public) = match alg {
            Algorithm::EdDSA => {
                let doc = signature::Ed25519KeyPair::generate_pkcs8(&rng)
                    .map_err(|_| KeyError::Generation)?;
                let kp = signature::Ed25519KeyPair::from_pkcs8(doc.as_ref())
                    .map_err(|_| KeyError::Generation)?;
                (doc.as_ref().to_vec(), kp.public_key().as_ref().to_vec())
            }
            Algorithm::ES256 => {
                let a = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
                let doc = signature::EcdsaKeyPair::generate_pkcs8(a, &rng)
                    .map_err(|_| KeyError::Generation)?;
                let kp = signature::EcdsaKeyPair::from_pkcs8(a, doc.as_ref())
                    .map_err(|_| KeyError::Generation)?;
                (doc.as_ref().to_vec(), kp.public_key().as_ref().to_vec())
            }
            Algorithm::RS256 => {
                let kp = signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(|_| KeyError::Generation)?;
                let der = kp.as_der().map_err(|_| KeyError::Generation)?;
                (der.as_ref().to_vec(), kp.public_key().as_ref().to_vec())
            }
            Algorithm::HS256 => {
                let mut secret = vec![0u8; 64];
                fill_random(&mut secret);
                (secret, Vec::new())
            }
        };
        Ok(Self {
            kid,
            alg,
            private,
            public,
        })
    }

    /// The public JWK of this key (RFC 7517), or `None` for HS256, whose
    /// secret must never be published.
    pub fn jwk(&self) -> Option<Jwk> {
        let base = |kty: &'static str| Jwk {
            kty,
            kid: self.kid.clone(),
            alg: self.alg.as_str(),
            use_: "sig",
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
        };
        match self.alg {
            Algorithm::EdDSA => Some(Jwk {
                crv: Some("Ed25519"),
                x: Some(b64::encode(&self.public)),
                ..base("OKP")
            }),
            Algorithm::ES256 => {
                // Uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
                let p = self.public.get(1..65)?;
                Some(Jwk {
                    crv: Some("P-256"),
                    x: Some(b64::encode(&p[..32])),
                    y: Some(b64::encode(&p[32..])),
                    ..base("EC")
                })
            }
            Algorithm::RS256 => {
                let pk = aws_lc_rs::rsa::PublicKey::from_der(&self.public).ok()?;
                Some(Jwk {
                    n: Some(b64::encode(pk.modulus().big_endian_without_leading_zero())),
                    e: Some(b64::encode(pk.exponent().big_endian_without_leading_zero())),
                    ..base("RSA")
                })
            }
            Algorithm::HS256 => None,
        }
    }
}

/// A public JSON Web Key, as published in the JWKS.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Jwk {
    /// Key type: OKP, EC or RSA.
    pub kty: &'static str,
    /// Key id.
    pub kid: String,
    /// The pinned algorithm.
    pub alg: &'static str,
    /// Always "sig".
    #[serde(rename = "use")]
    pub use_: &'static str,
    /// Curve, for OKP and EC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<&'static str>,
    /// x coordinate or Ed25519 public key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// y coordinate (EC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

/// A key ready to sign.
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    signer: Signer,
}

// Few keys exist, so the size gap between variants costs nothing; boxing
// would add a pointer chase to every signature.
#[allow(clippy::large_enum_variant)]
enum Signer {
    Ed(signature::Ed25519KeyPair),
    Ec(signature::EcdsaKeyPair),
    Rsa(signature::RsaKeyPair),
    Hmac(hmac::Key),
}

impl SigningKey {
    /// Parses stored key material into a signer.
    pub fn from_material(m: &KeyMaterial) -> Result<Self, KeyError> {
        let corrupt = || KeyError::Corrupt {
            kid: m.kid.clone(),
            alg: m.alg,
        };
        let signer = match m.alg {
            Algorithm::EdDSA => Signer::Ed(
                signature::Ed25519KeyPair::from_pkcs8(&m.private).map_err(|_| corrupt())?,
            ),
            Algorithm::ES256 => Signer::Ec(
                signature::EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &m.private,
                )
                .map_err(|_| corrupt())?,
            ),
            Algorithm::RS256 => {
                Signer::Rsa(signature::RsaKeyPair::from_pkcs8(&m.private).map_err(|_| corrupt())?)
            }
            Algorithm::HS256 => Signer::Hmac(hmac::Key::new(hmac::HMAC_SHA256, &m.private)),
        };
        Ok(Self {
            kid: m.kid.clone(),
            alg: m.alg,
            signer,
        })
    }

    /// The key id written into the `kid` header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm written into the `alg` header.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// Signs `msg` (the JWS signing input).
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.signer {
            Signer::Ed(k) => Ok(k.sign(msg).as_ref().to_vec()),
            Signer::Ec(k) => k
                .sign(&SystemRandom::new(), msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Generation),
            Signer::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    msg,
                    &mut sig,
                )
                .map_err(|_| KeyError::Generation)?;
                Ok(sig)
            }
            Signer::Hmac(k) => Ok(hmac::sign(k, msg).as_ref().to_vec()),
        }
    }
}

/// A key ready to verify, with its pinned algorithm.
pub struct VerifyingKey {
    alg: Algorithm,
    verifier: Verifier,
}

#[allow(clippy::large_enum_variant)]
enum Verifier {
    // Parsed once at load: parsing an RSA or EC key per request would cost
    // more than the signature check itself.
    Public(ParsedPublicKey),
    Hmac(hmac::Key),
}

impl VerifyingKey {
    /// Parses stored key material into a verifier.
    pub fn from_material(m: &KeyMaterial) -> Result<Self, KeyError> {
        let corrupt = || KeyError::Corrupt {
            kid: m.kid.clone(),
            alg: m.alg,
        };
        let public = |alg: &'static dyn signature::VerificationAlgorithm| {
            ParsedPublicKey::new(alg, &m.public)
                .map(Verifier::Public)
                .map_err(|_| corrupt())
        };
        let verifier = match m.alg {
            Algorithm::EdDSA => public(&signature::ED25519)?,
            Algorithm::ES256 => public(&signature::ECDSA_P256_SHA256_FIXED)?,
            Algorithm::RS256 => public(&signature::RSA_PKCS1_2048_8192_SHA256)?,
            Algorithm::HS256 => Verifier::Hmac(hmac::Key::new(hmac::HMAC_SHA256, &m.private)),
        };
        Ok(Self {
            alg: m.alg,
            verifier,
        })
    }

    /// Parses a published JWK (RFC 7517) as jwtd writes them: `kid`, and
    /// `alg` pinning one of EdDSA (OKP Ed25519), ES256 (EC P-256) or RS256
    /// (RSA of at least 2048 bits). The key's algorithm comes from the JWK,
    /// never from a token: a token naming another one is refused.
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<(String, Self), KeyError> {
        let field = |name: &str| jwk.get(name).and_then(serde_json::Value::as_str);
        let bytes =
            |name: &'static str| field(name).and_then(b64::decode).ok_or(KeyError::Jwk(name));
        let kid = field("kid").ok_or(KeyError::Jwk("kid"))?.to_owned();
        if field("use").is_some_and(|u| u != "sig") {
            return Err(KeyError::Jwk("use"));
        }
        let alg: Algorithm = field("alg")
            .ok_or(KeyError::Jwk("alg"))?
            .parse()
            .map_err(|_| KeyError::Jwk("alg"))?;
        let (kty, crv) = (field("kty"), field("crv"));
        let public = match alg {
            Algorithm::EdDSA if kty == Some("OKP") && crv == Some("Ed25519") => bytes("x")?,
            Algorithm::ES256 if kty == Some("EC") && crv == Some("P-256") => {
                let (x, y) = (bytes("x")?, bytes("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(KeyError::Jwk("x/y"));
                }
                [&[4u8][..], &x, &y].concat()
            }
            Algorithm::RS256 if kty == Some("RSA") => rsa_public_der(&bytes("n")?, &bytes("e")?),
            _ => return Err(KeyError::Jwk("kty/crv do not fit alg")),
        };
        let m = KeyMaterial {
            kid: kid.clone(),
            alg,
            private: Vec::new(),
            public,
        };
        Ok((kid, Self::from_material(&m)?))
    }

    /// The algorithm this key is pinned to.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// Checks `sig` over `msg`; HMAC comparison is constant-time.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match &self.verifier {
            Verifier::Public(k) => k.verify_sig(msg, sig).is_ok(),
            Verifier::Hmac(k) => hmac::verify(k, msg, sig).is_ok(),
        }
    }
}

/// PKCS#1 `RSAPublicKey` DER (SEQUENCE of the two INTEGERs) from a JWK's
/// big-endian modulus and exponent: the form the verifier parses.
fn rsa_public_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn len(out: &mut Vec<u8>, n: usize) {
        if n < 0x80 {
            out.push(n as u8);
        } else {
            let b = n.to_be_bytes();
            let skip = b.iter().take_while(|&&x| x == 0).count();
            out.push(0x80 | (b.len() - skip) as u8);
            out.extend_from_slice(&b[skip..]);
        }
    }
    fn integer(out: &mut Vec<u8>, v: &[u8]) {
        let v = &v[v.iter().take_while(|&&x| x == 0).count()..];
        let pad = v.first().is_none_or(|&b| b & 0x80 != 0);
        out.push(0x02);
        len(out, v.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    integer(&mut body, n);
    integer(&mut body, e);
    let mut out = vec![0x30];
    len(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

/// All keys that can verify tokens, and the one that signs new ones.
///
/// Immutable: a rotation builds a new ring (inside a new
/// [`crate::verifier::Verifier`]), so readers on the request path never
/// take a lock.
pub struct KeyRing {
    active: Option<Arc<SigningKey>>,
    verifiers: HashMap<String, VerifyingKey>,
}

impl KeyRing {
    /// Builds a ring from the active key and every key still verifying
    /// (the active one included or not; it is added either way).
    pub fn new(active: &KeyMaterial, verifying: &[KeyMaterial]) -> Result<Self, KeyError> {
        let mut verifiers = HashMap::with_capacity(verifying.len() + 1);
        for m in verifying.iter().chain(std::iter::once(active)) {
            verifiers.insert(m.kid.clone(), VerifyingKey::from_material(m)?);
        }
        Ok(Self {
            active: Some(Arc::new(SigningKey::from_material(active)?)),
            verifiers,
        })
    }

    /// A ring that only verifies (a resource server's, from the JWKS).
    pub fn verify_only(keys: impl IntoIterator<Item = (String, VerifyingKey)>) -> Self {
        Self {
            active: None,
            verifiers: keys.into_iter().collect(),
        }
    }

    /// The key new tokens are signed with; `None` for a verify-only ring.
    pub fn active(&self) -> Option<&SigningKey> {
        self.active.as_deref()
    }

    /// How many keys verify.
    pub fn len(&self) -> usize {
        self.verifiers.len()
    }

    /// Whether no key verifies.
    pub fn is_empty(&self) -> bool {
        self.verifiers.is_empty()
    }

    /// The verifier for `kid`, if the ring knows it.
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.verifiers.get(kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_signs_and_verifies_and_rejects_tampering() {
        for alg in Algorithm::ALL {
            let m = KeyMaterial::generate(alg).unwrap_or_else(|e| panic!("{alg}: {e}"));
            let s = SigningKey::from_material(&m).unwrap_or_else(|e| panic!("{alg}: {e}"));
            let v = VerifyingKey::from_material(&m).unwrap_or_else(|e| panic!("{alg}: {e}"));
            let sig = s.sign(b"hello").unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert!(v.verify(b"hello", &sig), "{alg}");
            assert!(!v.verify(b"hellO", &sig), "{alg}");
            assert_eq!(m.jwk().is_some(), alg != Algorithm::HS256, "{alg}");
            assert_eq!(alg.as_str().parse::<Algorithm>().ok(), Some(alg));
        }
        assert!("none".parse::<Algorithm>().is_err());
    }

    #[test]
    fn published_jwks_verify_what_their_keys_sign() {
        for alg in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256] {
            let m = KeyMaterial::generate(alg).unwrap_or_else(|e| panic!("{alg}: {e}"));
            let s = SigningKey::from_material(&m).unwrap_or_else(|e| panic!("{alg}: {e}"));
            let jwk = serde_json::to_value(m.jwk().expect("a public key")).expect("JSON");
            let (kid, v) = VerifyingKey::from_jwk(&jwk).unwrap_or_else(|e| panic!("{alg}: {e}"));
            let sig = s.sign(b"hello").unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!((kid.as_str(), v.alg()), (m.kid.as_str(), alg));
            assert!(
                v.verify(b"hello", &sig) && !v.verify(b"hellO", &sig),
                "{alg}"
            );
            // The algorithm is the JWK's: another one, or none, is refused.
            for bad in ["none", "HS256", "ES256K"] {
                let mut j = jwk.clone();
                j["alg"] = bad.into();
                assert!(VerifyingKey::from_jwk(&j).is_err(), "{alg} as {bad}");
            }
        }
        let missing = serde_json::json!({"kid": "k", "alg": "EdDSA", "kty": "OKP"});
        assert!(VerifyingKey::from_jwk(&missing).is_err());
    }

    #[test]
    fn debug_output_hides_private_key() {
        let m = KeyMaterial::generate(Algorithm::HS256).expect("a key is generated");
        let dbg = format!("{m:?}");
        assert!(!dbg.contains(&format!("{:?}", m.private)));
    }
}
