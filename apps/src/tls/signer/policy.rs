//! What a signer agrees to sign: a TLS 1.3 server CertificateVerify over a transcript hash of
//! the right length, and nothing else (RFC 8446 §4.4.3).
//!
//! ```text
//!   signed content = 0x20 × 64 ‖ "TLS 1.3, server CertificateVerify" ‖ 0x00 ‖ transcript hash
//! ```
//!
//! The serving context sends only the hash; the signer builds the content around it itself,
//! so whoever controls the serving context can obtain signatures on handshake transcripts of
//! its choosing (that is what a TLS server needs the key for) but never a signature over other
//! bytes: not a certificate, not a TLS 1.2 ServerKeyExchange, not a CertificateVerify of the
//! client role.

/// The transcript hash length the server negotiates: its cipher suites are the SHA-256 ones.
pub const HASH_LEN: usize = 32;

const CONTEXT: &[u8] = b"TLS 1.3, server CertificateVerify";
const PAD_LEN: usize = 64;
const PREFIX_LEN: usize = PAD_LEN + CONTEXT.len() + 1;

/// The content a signer signs for `hash`.
pub fn certificate_verify_content(hash: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(PREFIX_LEN + hash.len());
    m.resize(PAD_LEN, 0x20);
    m.extend_from_slice(CONTEXT);
    m.push(0);
    m.extend_from_slice(hash);
    m
}

/// The transcript hash inside `content` when it is a server CertificateVerify content (what
/// rustls hands to a signer), `None` otherwise.
pub fn transcript_hash(content: &[u8]) -> Option<&[u8]> {
    let (prefix, hash) = content.split_at_checked(PREFIX_LEN)?;
    let well_formed = prefix[..PAD_LEN].iter().all(|b| *b == 0x20)
        && &prefix[PAD_LEN..PAD_LEN + CONTEXT.len()] == CONTEXT
        && prefix[PREFIX_LEN - 1] == 0;
    well_formed.then_some(hash)
}

/// Whether a signer accepts `hash`; the refusal says why.
pub fn check_hash(hash: &[u8]) -> Result<(), String> {
    if hash.len() == HASH_LEN {
        Ok(())
    } else {
        Err(format!(
            "refused: a transcript hash is {HASH_LEN} bytes, this message is {}",
            hash.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_round_trips_and_other_bytes_do_not_parse() {
        // Guards against a hook that passes the whole content (or its tail) as the hash, and
        // against a prefix check that accepts the client's context string.
        let hash = [7u8; HASH_LEN];
        let content = certificate_verify_content(&hash);
        assert_eq!(transcript_hash(&content), Some(&hash[..]));
        let client = [
            vec![0x20; 64],
            b"TLS 1.3, client CertificateVerify\0".to_vec(),
            hash.to_vec(),
        ]
        .concat();
        assert_eq!(transcript_hash(&client), None);
        assert_eq!(transcript_hash(&hash), None);
        assert!(check_hash(&hash).is_ok());
        assert!(check_hash(&content).is_err());
        assert!(check_hash(&hash[..31]).is_err());
    }
}
