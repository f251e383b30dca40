//! `unpic-fuzz`: runs a fuzz target for a while and records what it finds.
//!
//! `unpic-fuzz run --target onnx --corpus DIR --seconds 600 --out OUT` starts a child process
//! that mutates the corpus in a loop (`child`) and watches it: a child that dies (an abort, a
//! stack overflow, the memory limit) or stops progressing (a hang) leaves the input it was on in
//! `OUT/crashes` or `OUT/hangs`, and a new child goes on with the next seed. Panics, wrong
//! answers and slow inputs are recorded by the child itself. `OUT/summary.json` holds the
//! counts; `replay` runs saved inputs again (the regression tests do the same).

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use unpic_fuzz::{Mutator, Outcome, Rng, Target, message_kind};

#[derive(Parser)]
#[command(name = "unpic-fuzz", about = "Fuzz UNPIC's readers on stable Rust")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Fuzz a target for a while under a supervisor that survives aborts and hangs.
    Run(RunArgs),
    /// The mutation loop itself (started by `run`).
    #[command(hide = true)]
    Child(RunArgs),
    /// Runs saved inputs once each; fails on a panic or a wrong answer.
    Replay {
        #[arg(long)]
        target: String,
        files: Vec<PathBuf>,
    },
}

#[derive(Args, Clone)]
struct RunArgs {
    /// onnx, zip, image, npy or labels.
    #[arg(long)]
    target: String,
    /// Seed files or folders of them.
    #[arg(long, required = true)]
    corpus: Vec<PathBuf>,
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where findings, the grown corpus and summary.json go.
    #[arg(long)]
    out: PathBuf,
    /// The child's address-space limit (prlimit), so a huge allocation fails as it would on a
    /// small machine instead of swapping.
    #[arg(long, default_value_t = 4096)]
    memory_mb: u64,
    /// Seconds without progress before the child counts as hung.
    #[arg(long, default_value_t = 20)]
    hang_seconds: u64,
    /// Inputs slower than this are recorded (milliseconds). A real model's shape run at
    /// 224x224 takes about a second on one core, so the bar is above that.
    #[arg(long, default_value_t = 5000)]
    slow_ms: u64,
    /// Seed files larger than this are left out (bytes).
    #[arg(long, default_value_t = 600_000)]
    max_len: usize,
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Cmd::Run(args) => supervise(&args),
        Cmd::Child(args) => child(&args),
        Cmd::Replay { target, files } => replay(&target, &files),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn target_of(name: &str) -> Result<Target> {
    Target::parse(name).with_context(|| {
        let names: Vec<_> = Target::ALL.iter().map(|t| t.name()).collect();
        format!("no target '{name}'; one of {}", names.join(", "))
    })
}

fn hash_of(bytes: &[u8]) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// Writes `bytes` under `dir` named by its hash, with `note` beside it.
fn save(dir: &Path, bytes: &[u8], note: &str) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let name = hash_of(bytes);
    std::fs::write(dir.join(format!("{name}.bin")), bytes)?;
    std::fs::write(
        dir.join(format!("{name}.txt")),
        format!("{}\n", note.trim_end()),
    )?;
    Ok(())
}

/// The seed files: each file given, and the files of each folder given (not recursive).
fn load_corpus(paths: &[PathBuf], max_len: usize) -> Result<Vec<Vec<u8>>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(path)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_none_or(|x| x != "txt"))
                .collect();
            entries.sort();
            files.extend(entries);
        } else {
            files.push(path.clone());
        }
    }
    let corpus: Vec<Vec<u8>> = files
        .iter()
        .filter_map(|f| std::fs::read(f).ok())
        .filter(|b| !b.is_empty() && b.len() <= max_len)
        .collect();
    if corpus.is_empty() {
        bail!("no seed files of at most {max_len} bytes in {paths:?}");
    }
    Ok(corpus)
}

/// The most message kinds whose first input joins the corpus (per child).
const MAX_KEPT_KINDS: usize = 300;

/// The last panic's message and place, kept by the hook instead of printed.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Keeps each panic's message for the report; `print` also shows it as usual (with its
/// backtrace under `RUST_BACKTRACE=1`), for replays.
fn record_panics(print: bool) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(info.to_string());
        }
        if print {
            default(info);
        }
    }));
}

/// Runs `target` on `bytes`, a panic turned into `Err(message)`.
fn run_caught(target: Target, bytes: &[u8]) -> std::result::Result<Outcome, String> {
    catch_unwind(AssertUnwindSafe(|| target.run(bytes))).map_err(|_| {
        LAST_PANIC
            .lock()
            .ok()
            .and_then(|mut l| l.take())
            .unwrap_or_else(|| "a panic".into())
    })
}

/// The counts a child writes and the supervisor adds up.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    execs: u64,
    accepted: u64,
    refused: u64,
    panics: u64,
    wrong: u64,
    slow: u64,
    kinds: u64,
}

impl Counts {
    fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "execs": self.execs, "accepted": self.accepted, "refused": self.refused,
            "panics": self.panics, "wrong": self.wrong, "slow": self.slow,
            "message_kinds": self.kinds,
        })
    }

    fn from_json(v: &serde_json::Value) -> Self {
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        Self {
            execs: n("execs"),
            accepted: n("accepted"),
            refused: n("refused"),
            panics: n("panics"),
            wrong: n("wrong"),
            slow: n("slow"),
            kinds: n("message_kinds"),
        }
    }

    fn add(&mut self, o: Counts) {
        self.execs += o.execs;
        self.accepted += o.accepted;
        self.refused += o.refused;
        self.panics += o.panics;
        self.wrong += o.wrong;
        self.slow += o.slow;
        self.kinds = self.kinds.max(o.kinds);
    }
}

fn child(args: &RunArgs) -> Result<()> {
    let target = target_of(&args.target)?;
    record_panics(false);
    let mut corpus = load_corpus(&args.corpus, args.max_len)?;
    // A restarted child also starts from what earlier children found.
    if let Ok(grown) = load_corpus(&[args.out.join("corpus")], args.max_len) {
        corpus.extend(grown);
    }
    let mut mutator = Mutator::new(args.seed, args.max_len.max(1 << 16));
    let mut pick = Rng::new(args.seed ^ 0x00C0_FFEE);
    let mut kinds = HashSet::new();
    let mut counts = Counts::default();
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let current = args.out.join("current.bin");
    let stats = args.out.join("child-stats.json");
    let mut last_stats = Instant::now();
    while Instant::now() < deadline {
        let parent = &corpus[pick.below(corpus.len())];
        let other = &corpus[pick.below(corpus.len())];
        let input = mutator.mutate(parent, other);
        std::fs::write(&current, &input)?;
        let started = Instant::now();
        let outcome = run_caught(target, &input);
        let ms = started.elapsed().as_millis() as u64;
        counts.execs += 1;
        match outcome {
            Err(panic) => {
                counts.panics += 1;
                save(&args.out.join("panics"), &input, &panic)?;
            }
            Ok(Outcome::Wrong(what)) => {
                counts.wrong += 1;
                save(&args.out.join("wrong"), &input, &what)?;
            }
            Ok(answer) => {
                let kind = match &answer {
                    Outcome::Refused(m) => {
                        counts.refused += 1;
                        message_kind(m)
                    }
                    _ => {
                        counts.accepted += 1;
                        "accepted".into()
                    }
                };
                // Past a few hundred kinds the new ones are mostly garbled names: counted,
                // not kept, so the corpus stays close to real files.
                if kinds.insert(kind.clone()) {
                    counts.kinds = kinds.len() as u64;
                    if kinds.len() <= MAX_KEPT_KINDS {
                        save(&args.out.join("corpus"), &input, &format!("{kind}\n"))?;
                        corpus.push(input.clone());
                    }
                }
            }
        }
        if ms > args.slow_ms {
            counts.slow += 1;
            save(&args.out.join("slow"), &input, &format!("{ms} ms"))?;
        }
        if last_stats.elapsed() > Duration::from_secs(2) {
            std::fs::write(&stats, counts.to_json().to_string())?;
            last_stats = Instant::now();
        }
    }
    std::fs::write(&stats, counts.to_json().to_string())?;
    Ok(())
}

fn supervise(args: &RunArgs) -> Result<()> {
    target_of(&args.target)?;
    std::fs::create_dir_all(&args.out)?;
    let exe = std::env::current_exe()?;
    let started = Instant::now();
    let total = Duration::from_secs(args.seconds);
    let (current, stats) = (
        args.out.join("current.bin"),
        args.out.join("child-stats.json"),
    );
    let mut counts = Counts::default();
    let (mut aborts, mut hangs, mut children) = (0u64, 0u64, 0u64);
    while started.elapsed() < total {
        let left = (total - started.elapsed()).as_secs().max(1);
        let _ = std::fs::remove_file(&stats);
        let mut child_args: Vec<String> = vec![
            "child".into(),
            format!("--target={}", args.target),
            format!("--seconds={left}"),
            format!("--seed={}", args.seed.wrapping_add(children * 7919)),
            format!("--out={}", args.out.display()),
            format!("--max-len={}", args.max_len),
            format!("--slow-ms={}", args.slow_ms),
        ];
        child_args.extend(
            args.corpus
                .iter()
                .map(|c| format!("--corpus={}", c.display())),
        );
        children += 1;
        let mut command = if Path::new("/usr/bin/prlimit").exists() {
            let mut c = Command::new("/usr/bin/prlimit");
            c.arg(format!("--as={}", args.memory_mb << 20))
                .arg("--")
                .arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let mut process = command
            .args(&child_args)
            .env("RAYON_NUM_THREADS", "1")
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting the fuzzing child")?;
        let status = loop {
            if let Some(status) = process.try_wait()? {
                break Some(status);
            }
            let idle = std::fs::metadata(&current)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .unwrap_or_default();
            if idle > Duration::from_secs(args.hang_seconds) {
                let _ = process.kill();
                let _ = process.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        if let Ok(text) = std::fs::read_to_string(&stats)
            && let Ok(v) = serde_json::from_str(&text)
        {
            counts.add(Counts::from_json(&v));
        }
        let input = std::fs::read(&current).unwrap_or_default();
        match status {
            Some(s) if s.success() => break,
            Some(s) => {
                aborts += 1;
                counts.execs += 1;
                save(
                    &args.out.join("crashes"),
                    &input,
                    &format!("the child died: {s}"),
                )?;
            }
            None => {
                hangs += 1;
                counts.execs += 1;
                save(
                    &args.out.join("hangs"),
                    &input,
                    &format!("no progress for {} s", args.hang_seconds),
                )?;
            }
        }
    }
    let mut summary = counts.to_json();
    summary["target"] = args.target.clone().into();
    summary["seconds"] = started.elapsed().as_secs().into();
    summary["aborts"] = aborts.into();
    summary["hangs"] = hangs.into();
    summary["children"] = children.into();
    std::fs::write(
        args.out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    println!("{summary}");
    Ok(())
}

fn replay(target: &str, files: &[PathBuf]) -> Result<()> {
    let target = target_of(target)?;
    record_panics(true);
    let mut failures = 0;
    for file in files {
        let bytes = std::fs::read(file).with_context(|| file.display().to_string())?;
        match run_caught(target, &bytes) {
            Ok(Outcome::Accepted) => println!("{}: accepted", file.display()),
            Ok(Outcome::Refused(m)) => println!("{}: refused: {m}", file.display()),
            Ok(Outcome::Wrong(m)) => {
                failures += 1;
                println!("{}: WRONG: {m}", file.display());
            }
            Err(panic) => {
                failures += 1;
                println!("{}: PANIC: {panic}", file.display());
            }
        }
    }
    if failures > 0 {
        bail!(
            "{failures} of {} inputs panicked or answered wrong",
            files.len()
        );
    }
    Ok(())
}
