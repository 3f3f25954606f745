//! Prints the front end's features for wav files, and optionally writes them as little-endian
//! f32 files (`<stem>.f32`, band-major [40, T]). The golden tests run this binary natively and,
//! cross-compiled, under qemu to prove the bits are the same on every architecture.
//!
//! Usage: features [--out-dir DIR] WAV...

use std::path::PathBuf;
use std::process::ExitCode;

use s2i_shared::frontend::Frontend;
use sha2::{Digest, Sha256};

fn main() -> ExitCode {
    let mut out_dir: Option<PathBuf> = None;
    let mut wavs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out-dir" => match args.next() {
                Some(d) => out_dir = Some(d.into()),
                None => {
                    eprintln!("error: --out-dir needs a folder");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("usage: features [--out-dir DIR] WAV...");
                return ExitCode::SUCCESS;
            }
            _ => wavs.push(PathBuf::from(a)),
        }
    }
    if wavs.is_empty() {
        eprintln!("usage: features [--out-dir DIR] WAV...");
        return ExitCode::from(2);
    }
    let frontend = Frontend::default();
    println!("tables {}", frontend.table_hash());
    let mut failed = false;
    for wav in &wavs {
        match frontend.features_from_wav_file(wav) {
            Ok(f) => {
                let bytes = f.to_le_bytes();
                let digest: String = Sha256::digest(&bytes)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                println!("{} {}x{} {digest}", wav.display(), f.n_mels, f.frames);
                if let Some(dir) = &out_dir {
                    let stem = wav.file_stem().unwrap_or_default().to_string_lossy();
                    let path = dir.join(format!("{stem}.f32"));
                    if let Err(e) = std::fs::write(&path, &bytes) {
                        eprintln!("error: {}: {e}", path.display());
                        failed = true;
                    }
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
