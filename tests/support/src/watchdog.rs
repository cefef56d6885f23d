//! [`Watchdog`]: watches a running controller while a hostile test attacks it. A background
//! thread asks `/healthz` every 100 ms (each answer must come within 1 s) and samples the
//! resident memory of the controller process and of every process it started (template
//! renderers count against the Pod's memory limit too).
//!
//! The hostile-input tests assert through it that the controller stayed up, answered its probe
//! in time and stayed under the Helm chart's memory limit for the whole attack, not only after.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

/// The Helm chart's memory limit for the controller container (`resources.limits.memory`).
pub const CHART_MEMORY_LIMIT: u64 = 256 << 20;
/// The longest `/healthz` may take while under attack.
pub const HEALTHZ_DEADLINE: Duration = Duration::from_secs(1);

/// What the watchdog saw so far.
#[derive(Debug, Clone, Default)]
pub struct Watched {
    /// `/healthz` requests made.
    pub probes: u64,
    /// Probes that failed, timed out or answered anything but `200 ok`, with what went wrong.
    pub failures: Vec<String>,
    /// The slowest probe answer.
    pub slowest: Duration,
    /// The largest resident memory of the controller and its child processes together, bytes.
    pub peak_rss: u64,
    /// Whether the process was found gone.
    pub exited: bool,
}

impl Watched {
    /// One line for the test output: `healthz max 12 ms over 87 probes, RSS peak 21 MiB`.
    pub fn summary(&self) -> String {
        format!(
            "healthz max {} ms over {} probes, RSS peak {} MiB",
            self.slowest.as_millis(),
            self.probes,
            self.peak_rss >> 20
        )
    }
}

/// Watches one controller process until dropped or [`Watchdog::stop`]ped.
#[derive(Debug)]
pub struct Watchdog {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Watched>>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Starts watching the controller with process id `pid` whose API listens on `api`
    /// (`127.0.0.1:<port>`, as `Controller::api` in `controller/tests/support`), once its first `/healthz` answered
    /// (a controller that never answers within 60 s fails the test here).
    pub fn start(pid: u32, api: &str) -> Self {
        let up = Instant::now();
        while let Err(e) = probe(api) {
            assert!(
                up.elapsed() < Duration::from_secs(60),
                "the controller at {api} did not answer /healthz within 60 s: {e}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Watched::default()));
        let thread = {
            let (stop, seen, api) = (stop.clone(), seen.clone(), api.to_owned());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let next = Instant::now() + Duration::from_millis(100);
                    let rss = tree_rss(pid);
                    let started = Instant::now();
                    let probe = probe(&api);
                    let took = started.elapsed();
                    let mut s = seen.lock().unwrap();
                    s.probes += 1;
                    s.slowest = s.slowest.max(took);
                    match rss {
                        Some(rss) => s.peak_rss = s.peak_rss.max(rss),
                        None => s.exited = true,
                    }
                    let n = s.probes;
                    if let Err(e) = probe {
                        s.failures.push(format!("probe {n}: {e}"));
                    } else if took > HEALTHZ_DEADLINE {
                        s.failures
                            .push(format!("probe {n}: answered after {took:?}"));
                    }
                    drop(s);
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                }
            })
        };
        Self {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// What was seen so far.
    pub fn seen(&self) -> Watched {
        self.seen.lock().unwrap().clone()
    }

    /// Asserts that, so far, the process is alive, every probe answered `ok` within
    /// [`HEALTHZ_DEADLINE`], there were probes at all, and the memory stayed under the chart's
    /// limit. Returns what was seen, for the test's report line.
    pub fn assert_healthy(&self, during: &str) -> Watched {
        let seen = self.seen();
        assert!(!seen.exited, "{during}: the controller process exited");
        assert!(
            seen.probes > 0,
            "{during}: the watchdog made no probe at all"
        );
        assert!(
            seen.failures.is_empty(),
            "{during}: /healthz failed or was slow: {:?}",
            seen.failures
        );
        assert!(
            seen.peak_rss > 0 && seen.peak_rss < CHART_MEMORY_LIMIT,
            "{during}: RSS peak {} MiB (limit {} MiB)",
            seen.peak_rss >> 20,
            CHART_MEMORY_LIMIT >> 20
        );
        seen
    }

    /// Stops the thread and returns everything it saw.
    pub fn stop(mut self) -> Watched {
        self.halt();
        self.seen()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.halt();
    }
}

/// `GET /healthz` with a hard deadline on connect, write and read.
fn probe(api: &str) -> Result<(), String> {
    use std::io::{Read as _, Write as _};
    let addr: std::net::SocketAddr = api.parse().map_err(|e| format!("{api}: {e}"))?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, HEALTHZ_DEADLINE)
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(HEALTHZ_DEADLINE))
        .and_then(|()| s.set_write_timeout(Some(HEALTHZ_DEADLINE)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET /healthz HTTP/1.0\r\nHost: healthz\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&answer);
    (text.starts_with("HTTP/1.") && text.contains(" 200 ") && text.ends_with("ok\n"))
        .then_some(())
        .ok_or_else(|| format!("unexpected answer {:?}", text.lines().next()))
}

/// Resident memory of `pid` plus all its descendants, or `None` when `pid` is gone.
fn tree_rss(pid: u32) -> Option<u64> {
    let own = rss(pid)?;
    Some(own + children(pid).into_iter().filter_map(tree_rss).sum::<u64>())
}

fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    if status
        .lines()
        .any(|l| l.starts_with("State:") && l.contains("zombie"))
    {
        return None;
    }
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib << 10)
}

fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}
