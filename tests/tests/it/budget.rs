//! The 14 KiB budget: a page whose compressed HTML (CSS inlined) fits in the
//! first round trip of a new connection reaches a person on a bad network in
//! one go. Sizes are printed so a growing page is seen before it fails.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

const BUDGET: usize = 14 * 1024;

fn gzipped_len(bytes: &[u8]) -> usize {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(bytes).expect("gzip in memory");
    gz.finish().expect("gzip in memory").len()
}

#[test]
fn every_page_of_the_real_site_is_under_14_kib_gzipped() {
    let built = crate::real_site();
    let mut over = Vec::new();
    println!("{:<34} {:>8} {:>8}", "page", "bytes", "gzipped");
    for (path, text) in built.pages() {
        let gz = gzipped_len(text.as_bytes());
        println!("{:<34} {:>8} {:>8}", path.display(), text.len(), gz);
        if gz > BUDGET {
            over.push(format!("{} is {gz} bytes gzipped", path.display()));
        }
    }
    assert!(over.is_empty(), "over the {BUDGET}-byte budget: {over:?}");
}

#[test]
fn the_measure_sees_a_page_over_budget() {
    // A page of incompressible text must fail the budget, or the test above proves nothing.
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let noisy: Vec<u8> = (0..20_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect();
    assert!(gzipped_len(&noisy) > BUDGET);
}
