//! Self-describing symbol streams: each stream picks the smallest of a constant, raw
//! fixed-width symbols, or rANS with one frequency table.
//!
//! Layout: `u8 mode` then
//! * `0` constant: varint symbol;
//! * `1` raw: `n` symbols of 1 byte (u8 streams) or 2 bytes LE (u16 streams);
//! * `2` rANS: a [`FreqTable`] then a lane stream (see [`super::rans`]).
//!
//! The symbol count `n` is not stored: the container knows it.

use super::rans::{
    choose_scale_bits, encode_lanes, lanes_for, DecTable, EncTable, FreqTable, LaneDecoder,
};
use super::varint::{put_varint, Reader};
use crate::error::{corrupt, Result};

const MODE_CONST: u8 = 0;
const MODE_RAW: u8 = 1;
const MODE_RANS: u8 = 2;

/// Histogram of symbols; index = symbol.
pub fn histogram<T: Copy + Into<u64>>(syms: &[T], alphabet: usize) -> Vec<u64> {
    // Four interleaved sub-histograms break the store-to-load dependency on hot symbols.
    let mut c = vec![[0u32; 4]; alphabet];
    let mut quads = syms.chunks_exact(4);
    for q in &mut quads {
        c[q[0].into() as usize][0] += 1;
        c[q[1].into() as usize][1] += 1;
        c[q[2].into() as usize][2] += 1;
        c[q[3].into() as usize][3] += 1;
    }
    for &s in quads.remainder() {
        c[s.into() as usize][0] += 1;
    }
    c.iter()
        .map(|h| h.iter().map(|&v| v as u64).sum())
        .collect()
}

/// Estimated size in bytes of a rANS stream for `counts` in `lanes` lanes, with its table;
/// `None` if rANS cannot code it (too many distinct symbols).
pub fn rans_estimate(counts: &[u64], cap_bits: u32, lanes: usize) -> Option<(usize, FreqTable)> {
    let n: u64 = counts.iter().sum();
    let distinct = counts.iter().filter(|&&c| c > 0).count();
    let t = FreqTable::from_counts(counts, choose_scale_bits(n, distinct, cap_bits)).ok()?;
    let bytes = (t.cost_bits(counts) / 8.0).ceil() as usize + t.serialized_len() + 1 + 10 * lanes;
    Some((bytes, t))
}

/// Append a stream of byte symbols (any of 256 values) to `out`, choosing the smallest mode;
/// rANS streams use up to `max_lanes` lanes (see [`lanes_for`]).
pub fn encode_u8(syms: &[u8], max_lanes: usize, out: &mut Vec<u8>) {
    let counts = histogram(syms, 256);
    encode_with_counts(
        syms.len(),
        &counts,
        max_lanes,
        out,
        1,
        |i| syms[i] as usize,
        |o| o.extend_from_slice(syms),
    );
}

/// Append a stream of u16 symbols, each `< alphabet` (<= 65536), choosing the smallest mode;
/// rANS streams use up to `max_lanes` lanes.
pub fn encode_u16(syms: &[u16], alphabet: usize, max_lanes: usize, out: &mut Vec<u8>) {
    let counts = histogram(syms, alphabet);
    encode_with_counts(
        syms.len(),
        &counts,
        max_lanes,
        out,
        2,
        |i| syms[i] as usize,
        |o| {
            for &s in syms {
                o.extend_from_slice(&s.to_le_bytes());
            }
        },
    );
}

fn encode_with_counts(
    n: usize,
    counts: &[u64],
    max_lanes: usize,
    out: &mut Vec<u8>,
    width: usize,
    sym: impl Fn(usize) -> usize,
    raw: impl FnOnce(&mut Vec<u8>),
) {
    let present: Vec<usize> = (0..counts.len()).filter(|&s| counts[s] > 0).collect();
    if present.len() <= 1 {
        out.push(MODE_CONST);
        put_varint(out, present.first().copied().unwrap_or(0) as u64);
        return;
    }
    let raw_len = n * width;
    let lanes = lanes_for(n, max_lanes);
    if let Some((est, t)) = rans_estimate(counts, 12, lanes) {
        if est < raw_len {
            out.push(MODE_RANS);
            t.write(out);
            encode_lanes(out, n, lanes, &[EncTable::new(&t)], sym, |_| 0);
            return;
        }
    }
    out.push(MODE_RAW);
    raw(out);
}

/// Decode a stream written by [`encode_u8`] into `out` (its length is the symbol count).
pub fn decode_u8(r: &mut Reader, out: &mut [u8]) -> Result<()> {
    match r.u8()? {
        MODE_CONST => {
            let v = r.varint_max(255)? as u8;
            out.fill(v);
        }
        MODE_RAW => out.copy_from_slice(r.bytes(out.len())?),
        MODE_RANS => {
            let t = FreqTable::read(r, 256)?;
            super::rans::decode_u8(r, &t, out)?;
        }
        m => return corrupt(format!("unknown symbol-stream mode {m}")),
    }
    Ok(())
}

/// Decode a stream written by [`encode_u16`]; every symbol is checked `< alphabet`.
pub fn decode_u16(r: &mut Reader, alphabet: usize, out: &mut [u16]) -> Result<()> {
    match r.u8()? {
        MODE_CONST => {
            let v = r.varint_max(alphabet.saturating_sub(1) as u64)? as u16;
            out.fill(v);
        }
        MODE_RAW => {
            let b = r.bytes(out.len() * 2)?;
            for (o, c) in out.iter_mut().zip(b.chunks_exact(2)) {
                *o = u16::from_le_bytes([c[0], c[1]]);
            }
            if out.iter().any(|&s| s as usize >= alphabet) {
                return corrupt("raw symbol out of alphabet");
            }
        }
        MODE_RANS => {
            let t = FreqTable::read(r, alphabet)?;
            let dt = DecTable::new(&t);
            let mut d = LaneDecoder::new(r, out.len())?;
            decode_lanes(&mut d, &dt, out.len(), |i, s| out[i] = s);
            d.finish()?;
        }
        m => return corrupt(format!("unknown symbol-stream mode {m}")),
    }
    Ok(())
}

/// Decode `n` symbols with one table (symbol `i` from lane `i % lanes`); `put(i, sym)`
/// receives symbol `i`.
#[inline]
pub fn decode_lanes(d: &mut LaneDecoder, t: &DecTable, n: usize, mut put: impl FnMut(usize, u16)) {
    let lanes = d.lanes();
    let mut l = 0;
    for i in 0..n {
        let s = d.get(l, t);
        put(i, s);
        l += 1;
        if l == lanes {
            l = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip() {
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![5; 1000],
            (0..=255).collect(),
            (0..50_000u32).map(|i| ((i * 7919) % 13) as u8).collect(),
            (0..100_003u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
                .collect(),
        ];
        for c in cases {
            let mut buf = Vec::new();
            encode_u8(&c, 32, &mut buf);
            let mut out = vec![0u8; c.len()];
            decode_u8(&mut Reader::new(&buf, "t"), &mut out).unwrap();
            assert_eq!(out, c);
            assert!(buf.len() <= c.len() + 2);
        }
        let w: Vec<u16> = (0..70_000u32).map(|i| ((i * 31) % 2000) as u16).collect();
        let mut buf = Vec::new();
        encode_u16(&w, 2048, 32, &mut buf);
        let mut out = vec![0u16; w.len()];
        decode_u16(&mut Reader::new(&buf, "t"), 2048, &mut out).unwrap();
        assert_eq!(out, w);
        assert!(decode_u16(&mut Reader::new(&buf, "t"), 1000, &mut out).is_err());
        for lanes in [1, 7, 64, 128, 255] {
            let c: Vec<u8> = (0..100_000u32).map(|i| ((i * 7919) % 13) as u8).collect();
            let mut buf = Vec::new();
            encode_u8(&c, lanes, &mut buf);
            let mut out = vec![0u8; c.len()];
            decode_u8(&mut Reader::new(&buf, "t"), &mut out).unwrap();
            assert_eq!(out, c, "lanes {lanes}");
        }
    }
}
