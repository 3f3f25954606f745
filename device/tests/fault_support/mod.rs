//! Shared by the fault tests: the real `s2i` run in a child process under an address-space limit
//! (an allocation beyond it fails, as it would on a small board, instead of being granted by an
//! overcommitting kernel), with its peak resident memory and a 20 s guard; and copies of the
//! shipped bundle with an edited manifest.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use s2i_shared::bundle::{Manifest, MANIFEST_FILE};

/// Address space the child may map: room for tract and the whole shipped bundle (its normal
/// runs stay far below), far below what the faults of issue 22 asked for (17 GB, 400 TB).
pub const ADDRESS_SPACE_LIMIT: u64 = 1 << 30;
/// Peak resident memory every refusal must stay under.
pub const RSS_LIMIT_KB: i64 = 150 * 1024;
/// A refusal is meant to take well under 2 s; past this the child is killed and the test fails
/// (a guard against hangs, not a timing assertion).
pub const GUARD: Duration = Duration::from_secs(20);

/// How one run of the binary ended.
#[derive(Debug)]
pub struct Outcome {
    /// The exit status (None when a signal ended it).
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Peak resident set, KiB (the child's own `ru_maxrss`).
    pub max_rss_kb: i64,
    pub elapsed: Duration,
    pub killed: bool,
}

impl Outcome {
    /// Exit status 1 with exactly one line on stderr that contains every one of `parts`,
    /// within the memory bound.
    pub fn assert_refused(&self, parts: &[&str]) {
        assert!(!self.killed, "still running after {GUARD:?}: {self:?}");
        assert_eq!(self.code, Some(1), "expected exit status 1: {self:?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected one line on stderr: {self:?}");
        for part in parts {
            assert!(
                lines[0].contains(part),
                "{part:?} missing from {:?}",
                lines[0]
            );
        }
        assert!(
            self.max_rss_kb < RSS_LIMIT_KB,
            "peak RSS {} KiB (limit {RSS_LIMIT_KB}): {self:?}",
            self.max_rss_kb
        );
    }
}

/// Largest file the child may write, bytes (a full disk, as far as the child can tell).
pub struct FileSizeLimit(pub u64);

/// Runs `s2i args` under [`ADDRESS_SPACE_LIMIT`], with `env` added and, when given, a file-size
/// limit (SIGXFSZ ignored, so a write past it fails instead of killing the process).
pub fn s2i_limited(
    args: &[&OsStr],
    env: &[(&str, &str)],
    file_size: Option<FileSizeLimit>,
) -> Outcome {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_s2i"));
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let file_size = file_size.map(|l| l.0);
    // SAFETY: between fork and exec only async-signal-safe calls (setrlimit, signal) on values
    // prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let limit = |bytes: u64| libc::rlimit {
                rlim_cur: bytes as libc::rlim_t,
                rlim_max: bytes as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit(ADDRESS_SPACE_LIMIT)) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(bytes) = file_size {
                if libc::setrlimit(libc::RLIMIT_FSIZE, &limit(bytes)) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            }
            Ok(())
        });
    }
    let start = Instant::now();
    // Reaped below by wait4, which also gives its peak memory.
    #[allow(clippy::zombie_processes)]
    let mut child = cmd.spawn().expect("cannot start s2i");
    let pid = child.id() as libc::pid_t;
    let reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let mut status = 0;
    // SAFETY: rusage is plain data, filled by the kernel.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut killed = false;
    loop {
        // SAFETY: waits for our own child; reaping it here is why `child.wait` is never called.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        assert!(r == 0, "wait4: {}", std::io::Error::last_os_error());
        if start.elapsed() > GUARD && !killed {
            let _ = child.kill();
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = start.elapsed();
    let exited = libc::WIFEXITED(status);
    Outcome {
        code: exited.then(|| libc::WEXITSTATUS(status)),
        signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        max_rss_kb: usage.ru_maxrss,
        elapsed,
        killed,
    }
}

/// `s2i args` under the address-space limit.
pub fn s2i<S: AsRef<OsStr>>(args: &[S]) -> Outcome {
    let args: Vec<&OsStr> = args.iter().map(|a| a.as_ref()).collect();
    s2i_limited(&args, &[], None)
}

pub fn default_bundle() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("models/default")
}

pub fn sample(name: &str) -> PathBuf {
    default_bundle().join("samples").join(name)
}

/// The shipped manifest, parsed.
pub fn default_manifest() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(default_bundle().join(MANIFEST_FILE)).unwrap())
        .unwrap()
}

/// A copy of the shipped bundle in `dir` (its model files hard-linked when the file system
/// allows, else copied) with `manifest` written as its manifest. Nothing is ever written
/// through a link: the manifest is a new file.
pub fn bundle_with(dir: &Path, manifest: &serde_json::Value) -> PathBuf {
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    for entry in std::fs::read_dir(default_bundle()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if !entry.file_type().unwrap().is_file() || name == MANIFEST_FILE {
            continue;
        }
        let to = bundle.join(&name);
        if !to.exists() && std::fs::hard_link(entry.path(), &to).is_err() {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
    let path = bundle.join(MANIFEST_FILE);
    let _ = std::fs::remove_file(&path);
    std::fs::write(&path, serde_json::to_string_pretty(manifest).unwrap()).unwrap();
    bundle
}

/// The shipped manifest with `edit` applied, as a bundle in `dir`.
pub fn edited_bundle(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let mut m = default_manifest();
    edit(&mut m);
    bundle_with(dir, &m)
}

/// Checks that the shipped manifest parses as the types say (so edits start from a good one).
pub fn manifest_parses(value: &serde_json::Value) -> bool {
    serde_json::from_value::<Manifest>(value.clone()).is_ok()
}
