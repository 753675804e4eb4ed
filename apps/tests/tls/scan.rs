//! Looking for a key's bytes in another process's readable memory.
//!
//! The needles are the key's secret numbers (RSA: d, p, q, dP, dQ, qInv; P-256: the private
//! scalar), each in big-endian order (as in the DER, the PKCS#8 document and raw byte
//! buffers) and in little-endian order (as in the limbs of a parsed key on x86-64), each cut
//! into 16-byte pieces taken at the start and in the middle, so a partial copy is found too.

use std::os::unix::fs::FileExt;

use apps::tls::key::{KeyType, PlainIdentity};

const PIECE: usize = 16;

/// The key's secret numbers, big-endian.
pub fn secrets(key_type: KeyType, id: &PlainIdentity) -> Vec<Vec<u8>> {
    match key_type {
        KeyType::Rsa2048 => {
            use rsa::pkcs8::DecodePrivateKey;
            use rsa::traits::PrivateKeyParts;
            let key = rsa::RsaPrivateKey::from_pkcs8_der(&id.pkcs8).expect("an RSA PKCS#8 key");
            let mut v = vec![key.d().to_bytes_be()];
            v.extend(key.primes().iter().map(|p| p.to_bytes_be()));
            v.extend(key.dp().map(|x| x.to_bytes_be()));
            v.extend(key.dq().map(|x| x.to_bytes_be()));
            v
        }
        KeyType::P256 => {
            // ECPrivateKey inside the PKCS#8: version 1, then the 32-byte private key.
            let at = id
                .pkcs8
                .windows(5)
                .position(|w| w == [0x02, 0x01, 0x01, 0x04, 0x20])
                .expect("an ECPrivateKey in the PKCS#8 document")
                + 5;
            vec![id.pkcs8[at..at + 32].to_vec()]
        }
    }
}

/// The 16-byte pieces to look for.
pub fn needles(secrets: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for s in secrets {
        let le: Vec<u8> = s.iter().rev().copied().collect();
        for v in [s, &le] {
            for at in [0, v.len() / 2] {
                if v.len() >= at + PIECE {
                    out.push(v[at..at + PIECE].to_vec());
                }
            }
        }
    }
    out
}

/// Where in process `pid`'s readable memory any needle occurs: `(address, mapping)` of each
/// hit. Also returns how many bytes were read (to check the scan looked at something).
pub fn scan(pid: u32, needles: &[Vec<u8>]) -> (Vec<(usize, String)>, usize) {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("read the maps");
    let mem = std::fs::File::open(format!("/proc/{pid}/mem")).expect("open the memory");
    let mut first = vec![false; 1 << 16];
    for n in needles {
        first[usize::from(u16::from_le_bytes([n[0], n[1]]))] = true;
    }
    let mut hits = Vec::new();
    let mut read_total = 0;
    let mut buf = vec![0u8; 1 << 20];
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        if !perms.starts_with('r') || line.ends_with("[vvar]") || line.ends_with("[vsyscall]") {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let start = usize::from_str_radix(start, 16).expect("address");
        let end = usize::from_str_radix(end, 16).expect("address");
        // Overlapping chunks, so a needle across a chunk boundary is seen.
        let mut at = start;
        while at < end {
            let len = (end - at).min(buf.len());
            let Ok(n) = mem.read_at(&mut buf[..len], at as u64) else {
                break;
            };
            if n == 0 {
                break;
            }
            read_total += n;
            let chunk = &buf[..n];
            for i in 0..n.saturating_sub(PIECE - 1) {
                if first[usize::from(u16::from_le_bytes([chunk[i], chunk[i + 1]]))]
                    && needles.iter().any(|nd| chunk[i..i + PIECE] == nd[..])
                {
                    hits.push((at + i, line.to_owned()));
                }
            }
            if at + n >= end {
                break;
            }
            at += n - (PIECE - 1);
        }
    }
    (hits, read_total)
}
