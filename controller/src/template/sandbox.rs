//! Layer (b) of `docs/templates.md`: templates render in a short-lived child process.
//!
//! The in-process limits ([`super::limits`]) cannot see everything the engine does: nested
//! `range` loops with empty bodies call no function and write nothing, and a bug in the engine
//! could panic or allocate without bound. So the controller renders in a child of itself,
//! `kseal-controller __render-template`, which the binary's `main` dispatches before anything
//! else runs ([`child_main_if_requested`]). The child
//!
//! 1. sets its own resource limits: address space [`MEMORY`], CPU time [`CPU_SECONDS`], no core
//!    files, no new files; the environment is empty but for `MALLOC_ARENA_MAX=1` (one malloc
//!    arena, so the engine's lexer thread does not reserve another 64 MiB of address space);
//! 2. reads the request (templates and decrypted items, [`super::frame`]) from stdin;
//! 3. renders with the in-process limits, announcing each key before rendering it;
//! 4. writes the rendered templates, or the error, to stdout and exits.
//!
//! The controller ([`Sandbox`]) runs at most [`MAX_CHILDREN`] children at once (so their memory
//! stays within the chart's limit), kills a child that has not answered within [`WALL_TIME`],
//! caps the answer's size, and turns every abnormal end (a signal, a resource limit, a garbled
//! answer) into a [`TemplateError`] naming the key being rendered and the limit that was hit.
//! stderr is read only to tell which limit ended the child (at most 4 KiB, never shown).

use std::{
    collections::BTreeMap,
    ffi::OsString,
    io::{self, Read as _, Write as _},
    os::unix::process::ExitStatusExt as _,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Condvar, Mutex, OnceLock, mpsc},
    thread,
    time::Duration,
};

use kseal_template::{
    Plaintexts, Renderer, TemplateError,
    limits::{MAX_TIME, MAX_VALUE},
    render_announced,
};

use super::frame::{self, Frame};

/// The hidden first argument that makes `kseal-controller` a template renderer.
pub const CHILD_ARG: &str = "__render-template";
/// The child's address-space limit (`RLIMIT_AS`): the binary maps about 40 MiB, a render of
/// real templates needs a few MiB more; two children and the controller stay within the
/// chart's 256 MiB memory limit.
pub const MEMORY: u64 = 96 << 20;
/// The child's CPU-time limit (`RLIMIT_CPU`; `SIGXCPU` at this, `SIGKILL` a second later).
pub const CPU_SECONDS: u64 = 2;
/// How long the controller waits for a child's answer, start-up included, before killing it.
pub const WALL_TIME: Duration = Duration::from_secs(5);
/// Children rendering at once; further renders wait for one to end.
pub const MAX_CHILDREN: usize = 2;
/// Largest request a child reads: templates and items come from one SealedSecret (at most what
/// the API server stores) and its decrypted items.
const MAX_REQUEST: usize = 16 << 20;
/// Largest message a child may send with an error (the messages it writes are far shorter).
const MAX_MESSAGE: usize = 4096;
/// stderr bytes kept to tell the limits apart.
const MAX_STDERR: u64 = 4096;
/// Exit code of a child that could not set its limits.
const EXIT_LIMITS: i32 = 3;
/// Exit code of a child that could not read its request or write its answer.
const EXIT_IO: i32 = 4;
const SIGKILL: i32 = 9;
const SIGXCPU: i32 = 24;
/// What the child's panic hook writes to stderr (the default hook could print values).
const PANIC_NOTE: &str = "kseal-render: panic";

/// If this process was started as a template renderer, renders and returns the exit code.
/// `main` calls this first, before parsing flags or starting a runtime.
pub fn child_main_if_requested() -> Option<i32> {
    (std::env::args_os().nth(1).as_deref() == Some(std::ffi::OsStr::new(CHILD_ARG)))
        .then(child_main)
}

/// The child: limits, request, render, answer. See the module documentation.
fn child_main() -> i32 {
    std::panic::set_hook(Box::new(|_| {
        let _ = writeln!(io::stderr(), "{PANIC_NOTE}");
    }));
    if set_limits().is_err() {
        return EXIT_LIMITS;
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match serve(&mut io::stdin().lock(), &mut out) {
        Ok(()) => 0,
        Err(_) => EXIT_IO,
    }
}

/// Sets the child's resource limits. `rlimit` is a small, maintained crate (only `libc`
/// underneath) that wraps `setrlimit` in a safe function; the workspace forbids `unsafe`, and
/// the standard library has no resource-limit API.
fn set_limits() -> io::Result<()> {
    use rlimit::{Resource, setrlimit};
    setrlimit(Resource::CORE, 0, 0)?;
    setrlimit(Resource::CPU, CPU_SECONDS, CPU_SECONDS + 1)?;
    setrlimit(Resource::AS, MEMORY, MEMORY)?;
    setrlimit(Resource::FSIZE, 0, 0)?;
    // stdin, stdout and stderr are open; nothing else may be.
    setrlimit(Resource::NOFILE, 3, 3)?;
    Ok(())
}

/// Reads one request from `input` and writes the answer to `out`.
fn serve(input: &mut impl io::Read, out: &mut impl io::Write) -> io::Result<()> {
    let request = frame::read_request(input, MAX_REQUEST)?;
    let mut announce_error = None;
    let result = render_announced(&request.templates, &request.items, MAX_TIME, &mut |key| {
        if let Err(e) = frame::write_frame(out, &Frame::Key(key.to_owned())) {
            announce_error.get_or_insert(e);
        }
    });
    if let Some(e) = announce_error {
        return Err(e);
    }
    match result {
        Ok(rendered) => {
            for (key, value) in rendered {
                frame::write_frame(out, &Frame::Value(key, value))?;
            }
            frame::write_frame(out, &Frame::Done)
        }
        Err(e) => frame::write_frame(out, &Frame::Error(e.key, e.message)),
    }
}

/// Renders in child processes of `program` (see the module documentation).
#[derive(Debug)]
pub struct Sandbox {
    program: PathBuf,
    args: Vec<OsString>,
    wall: Duration,
    permits: Permits,
}

impl Sandbox {
    /// Children run `program __render-template`.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self::with_command(program, [CHILD_ARG], WALL_TIME)
    }

    /// Children run `program args…` and are killed after `wall` (for tests of the process
    /// handling with stand-in programs).
    pub fn with_command(
        program: impl Into<PathBuf>,
        args: impl IntoIterator<Item = impl Into<OsString>>,
        wall: Duration,
    ) -> Self {
        Self {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            wall,
            permits: Permits::new(MAX_CHILDREN),
        }
    }

    /// The renderer of this process: children of the running executable, shared by every
    /// caller so that [`MAX_CHILDREN`] holds process-wide.
    pub fn shared() -> &'static Sandbox {
        static SHARED: OnceLock<Sandbox> = OnceLock::new();
        SHARED.get_or_init(|| {
            // /proc/self/exe names this binary even if its file was replaced since.
            let program = std::env::current_exe()
                .ok()
                .filter(|p| p.exists())
                .unwrap_or_else(|| PathBuf::from("/proc/self/exe"));
            Sandbox::new(program)
        })
    }

    fn spawn(&self) -> io::Result<Child> {
        Command::new(&self.program)
            .args(&self.args)
            .env_clear()
            .env("MALLOC_ARENA_MAX", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    }
}

impl Renderer for Sandbox {
    fn render(
        &self,
        templates: &BTreeMap<String, String>,
        items: &Plaintexts,
    ) -> Result<Plaintexts, TemplateError> {
        let first = templates.keys().next().cloned().unwrap_or_default();
        let fail = |key: &str, message: String| TemplateError {
            key: key.to_owned(),
            message,
        };
        if templates.is_empty() {
            return Ok(BTreeMap::new());
        }
        let request = frame::encode_request(templates, items).map_err(|e| {
            fail(
                &first,
                format!("cannot pass the templates to the renderer: {e}"),
            )
        })?;
        let _permit = self.permits.acquire();
        let mut child = self
            .spawn()
            .map_err(|e| fail(&first, format!("cannot start the template renderer: {e}")))?;
        let (stdin, stdout) = (child.stdin.take(), child.stdout.take());
        let mut stderr = child.stderr.take();
        let keys: Vec<String> = templates.keys().cloned().collect();
        let (tx, rx) = mpsc::channel();
        let io = thread::Builder::new()
            .name("kseal-render-io".into())
            .spawn(move || {
                let _ = tx.send(exchange(stdin, stdout, &request, &keys));
            })
            .map_err(|e| fail(&first, format!("cannot start the template renderer: {e}")));
        let io = match io {
            Ok(io) => io,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let (answer, timed_out) = match rx.recv_timeout(self.wall) {
            Ok(answer) => (Some(answer), false),
            Err(_) => (None, true),
        };
        // Ended or not, the child is killed and reaped: a finished child is a zombie until
        // reaped, so the signal reaches no other process.
        let _ = child.kill();
        let status = child.wait();
        let answer = answer.or_else(|| rx.recv().ok());
        let _ = io.join();
        let answer = answer.unwrap_or_default();
        let key = answer.announced.clone().unwrap_or(first);
        match answer.outcome {
            Some(Ok(rendered)) if !timed_out => return Ok(rendered),
            Some(Err(e)) if !timed_out => return Err(e),
            _ => {}
        }
        let mut note = Vec::new();
        if let Some(stderr) = stderr.as_mut() {
            let _ = stderr.take(MAX_STDERR).read_to_end(&mut note);
        }
        let message = if timed_out {
            format!(
                "rendering took longer than the limit of {} s (the renderer process was stopped)",
                self.wall.as_secs()
            )
        } else {
            abnormal_end(status.ok(), &note, answer.garbled)
        };
        Err(fail(&key, message))
    }
}

/// What the controller read from one child.
#[derive(Default)]
struct Answer {
    /// The last key the child announced.
    announced: Option<String>,
    /// The child's verdict, if its answer was complete and well-formed.
    outcome: Option<Result<Plaintexts, TemplateError>>,
    /// The answer broke the protocol.
    garbled: bool,
}

/// Writes the request to the child's stdin, closes it, and reads the answer from its stdout.
fn exchange(
    stdin: Option<impl io::Write>,
    stdout: Option<impl io::Read>,
    request: &[u8],
    keys: &[String],
) -> Answer {
    let mut answer = Answer::default();
    let (Some(mut stdin), Some(mut stdout)) = (stdin, stdout) else {
        answer.garbled = true;
        return answer;
    };
    // A child that died early closes its stdin: the write fails and the end is judged below.
    let _ = stdin.write_all(request);
    drop(stdin);
    // Every rendered template, its key, and the frames around them.
    let mut budget = MAX_VALUE + keys.iter().map(|k| 2 * k.len() + 32).sum::<usize>() + 64;
    let mut rendered = BTreeMap::new();
    loop {
        let frame = match frame::read_frame(&mut stdout, &mut budget) {
            Ok(Some(frame)) => frame,
            Ok(None) => return answer,
            Err(e) => {
                answer.garbled = e.kind() == io::ErrorKind::InvalidData;
                return answer;
            }
        };
        let known = |key: &str| keys.iter().any(|k| k == key);
        match frame {
            Frame::Key(key) if known(&key) => answer.announced = Some(key),
            Frame::Value(key, value) if known(&key) => {
                rendered.insert(key, value);
            }
            Frame::Error(key, message) if known(&key) && message.len() <= MAX_MESSAGE => {
                answer.outcome = Some(Err(TemplateError { key, message }));
                return answer;
            }
            Frame::Done if rendered.len() == keys.len() => {
                answer.outcome = Some(Ok(rendered));
                return answer;
            }
            _ => {
                answer.garbled = true;
                return answer;
            }
        }
    }
}

/// Why a child ended without a complete answer, as the limit it hit.
fn abnormal_end(status: Option<ExitStatus>, stderr: &[u8], garbled: bool) -> String {
    let said = |s: &str| stderr.windows(s.len()).any(|w| w == s.as_bytes());
    let memory = MEMORY >> 20;
    if garbled {
        return "the template renderer answered garbage (the render was refused)".into();
    }
    if said("memory allocation of") {
        return format!("rendering needed more than the memory limit of {memory} MiB");
    }
    if said("overflowed its stack") {
        return "rendering needed more stack than the renderer has (nesting too deep)".into();
    }
    if said(PANIC_NOTE) {
        return "the template engine failed while rendering (a bug; the render was refused)".into();
    }
    match status {
        Some(s) if s.signal() == Some(SIGXCPU) => format!(
            "rendering used more than the limit of {CPU_SECONDS} s of CPU time (the renderer process was stopped)"
        ),
        Some(s) if s.signal() == Some(SIGKILL) => format!(
            "the template renderer was killed: over the CPU limit of {CPU_SECONDS} s, or out of memory"
        ),
        Some(s) if s.signal().is_some() => format!(
            "the template renderer was stopped by signal {} (memory limit {memory} MiB, CPU limit {CPU_SECONDS} s)",
            s.signal().unwrap_or_default()
        ),
        Some(s) if s.code() == Some(EXIT_LIMITS) => {
            "the template renderer could not set its resource limits".into()
        }
        _ => "the template renderer ended without an answer".into(),
    }
}

/// A counting semaphore: at most `n` children at once.
#[derive(Debug)]
struct Permits {
    free: Mutex<usize>,
    freed: Condvar,
}

struct Permit<'a>(&'a Permits);

impl Permits {
    fn new(n: usize) -> Self {
        Self {
            free: Mutex::new(n),
            freed: Condvar::new(),
        }
    }

    #[cfg(test)]
    fn try_acquire(&self) -> Option<Permit<'_>> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        (*free > 0).then(|| {
            *free -= 1;
            Permit(self)
        })
    }

    fn acquire(&self) -> Permit<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests;
