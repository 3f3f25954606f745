//! Sizes read from a wav header reserve memory only after they are checked: every refusal here
//! is counted by an allocator that records the largest request. The old reader reserved what
//! the header declared (17 GB for a 70 KB file), which overcommitting kernels grant until the
//! pages are touched, so only counting the request shows it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use s2i_shared::frontend::Frontend;

struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only records sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The largest single allocation `work` made (tests take turns, so it is theirs).
fn largest_allocation(work: impl FnOnce()) -> usize {
    static TURN: Mutex<()> = Mutex::new(());
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    LARGEST.store(0, Ordering::SeqCst);
    work();
    LARGEST.load(Ordering::SeqCst)
}

/// A canonical 44-byte PCM header with every field given.
fn header(channels: u16, rate: u32, block_align: u16, bits: u16, data_len: u32) -> Vec<u8> {
    let mut h = b"RIFF".to_vec();
    h.extend_from_slice(&36u32.wrapping_add(data_len).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&rate.wrapping_mul(block_align as u32).to_le_bytes());
    h.extend_from_slice(&block_align.to_le_bytes());
    h.extend_from_slice(&bits.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

/// Far more than the front end's own buffers (a 20 s, 48 kHz recording is under 2 MB mono).
const CAP: usize = 16 << 20;

#[test]
fn hostile_headers_reserve_nothing_big() {
    let frontend = Frontend::default();
    let body = vec![0x80u8; 70_000];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // The file: 4 294 967 294 one-byte samples at 4 294 967 295 Hz ("1 s").
        ("fast", header(1, u32::MAX, 1, 8, u32::MAX - 1)),
        // 65 535 channels at 48 kHz: 65 535 frames, 1.4 s by the header.
        (
            "wide",
            header(u16::MAX, 48_000, u16::MAX, 8, 65_535 * 65_535),
        ),
        // 8 channels, 19 s at 48 kHz declared, 70 KB present.
        ("long", header(8, 48_000, 8, 8, 8 * 48_000 * 19)),
        // A supported rate with the largest declared length.
        ("huge", header(1, 48_000, 2, 16, u32::MAX - 1)),
    ];
    for (name, mut bytes) in cases {
        bytes.extend_from_slice(&body);
        let mut said = String::new();
        let largest = largest_allocation(|| {
            said = match frontend.features_from_wav_bytes(&bytes, name) {
                Ok(f) => format!("accepted: {} frames", f.frames),
                Err(e) => e.to_string(),
            };
        });
        println!("{name}: largest allocation {largest} bytes: {said}");
        assert!(said.starts_with(&format!("{name}: ")), "{said}");
        assert!(
            largest <= CAP,
            "{name}: an allocation of {largest} bytes (cap {CAP}): {said}"
        );
    }
}
