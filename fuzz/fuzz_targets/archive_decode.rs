//! Arbitrary bytes as a `.sph` archive: open (read_index: every entry cross-checked against
//! its container header) and restore the safetensors file in memory, as `saraphis
//! decompress` does; once as given and once with every checksum rewritten
//! (`saraphis_fuzz::fix_archive`) so that mutated indexes and containers reach the checks and
//! decoders behind the CRCs. Must never panic; a restore that succeeds writes exactly the
//! bytes its index declares, and twice the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use saraphis::format::archive::read_index;

fn restore(buf: &[u8]) {
    let Ok(index) = read_index(buf) else {
        return;
    };
    // A valid archive may expand far beyond its own size; decoding that is not the point.
    let total: u64 = index.tensors.iter().map(|t| t.original_bytes).sum();
    if total > saraphis_fuzz::MAX_DECODE_BYTES {
        return;
    }
    let sys = saraphis_fuzz::cpu_system(0);
    let mut out = Vec::new();
    if let Ok(reports) = sys.decompress_archive(buf, &mut out, &|_, _, _| {}) {
        let header = index.source_header.len() as u64;
        assert_eq!(out.len() as u64, 8 + header + total, "restored length");
        assert_eq!(reports.len(), index.tensors.len());
        let mut again = Vec::new();
        sys.decompress_archive(buf, &mut again, &|_, _, _| {})
            .expect("a second restore of the same archive");
        assert!(again == out, "two restores differ");
    }
}

fuzz_target!(init: saraphis_fuzz::init(), |data: &[u8]| {
    restore(data);
    let mut fixed = data.to_vec();
    if saraphis_fuzz::fix_archive(&mut fixed) && fixed != data {
        restore(&fixed);
    }
});
