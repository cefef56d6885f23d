//! The budget the templates of one SealedSecret render under (layer (a) of `docs/templates.md`):
//! bytes of output, wall-clock time, and the caps on function arguments and results.
//!
//! The engine calls template functions through plain `fn` pointers, so the budget of the render
//! in progress lives in a thread-local: [`start`] sets it for the calling thread, every wrapped
//! function call ([`check_time`]) and every write of the [`Output`] consult it.

use std::{cell::Cell, fmt, io, time::Duration, time::Instant};

use kseal_core::{MAX_SECRET_DATA, SecretBytes, SecretWriter};

/// Largest count, width, precision or index a function accepts (`repeat`, `indent`, `nindent`,
/// `trunc`, `substr`, `printf`'s `%Nd` and `%.Nf`).
pub const MAX_COUNT: usize = 1 << 20;
/// Largest string or list one function may return, in bytes: what a whole Secret may hold.
pub const MAX_VALUE: usize = MAX_SECRET_DATA;
/// Most elements a list may have (`list`, `splitList`).
pub const MAX_LIST: usize = 1 << 16;
/// Deepest a list may nest in lists.
pub const MAX_LIST_DEPTH: usize = 32;
/// Deepest nesting of blocks (`if`, `range`, `with`, `define`, `block`, `else if`),
/// parentheses and `template` calls, added up along the deepest path; recursion is refused.
pub const MAX_DEPTH: usize = 100;
/// Wall-clock time for all templates of one SealedSecret.
pub const MAX_TIME: Duration = Duration::from_secs(1);

/// Why rendering stopped: a limit of this module. The text names the limit, never a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Over {
    /// The rendered templates and the decrypted items would exceed what a Secret holds.
    Output,
    /// The templates rendered longer than [`MAX_TIME`].
    Time,
}

impl fmt::Display for Over {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Output => write!(
                f,
                "output exceeds the 1 MiB Secret limit (all rendered templates and decrypted items together)"
            ),
            Self::Time => write!(
                f,
                "rendering took longer than the limit of {} s",
                MAX_TIME.as_secs()
            ),
        }
    }
}

#[derive(Clone, Copy)]
struct Budget {
    deadline: Instant,
    /// Output bytes still allowed (the Secret limit less the items and finished templates).
    left: usize,
}

thread_local! {
    static BUDGET: Cell<Option<Budget>> = const { Cell::new(None) };
}

/// The budget of the render in progress on this thread; cleared when dropped.
#[derive(Debug)]
pub struct Running(());

impl Drop for Running {
    fn drop(&mut self) {
        BUDGET.with(|b| b.set(None));
    }
}

/// Starts a budget of `left` output bytes and `time` on the calling thread.
pub fn start(left: usize, time: Duration) -> Running {
    let deadline = Instant::now() + time;
    BUDGET.with(|b| b.set(Some(Budget { deadline, left })));
    Running(())
}

/// Output bytes still allowed; without a running budget, the Secret limit.
pub fn left() -> usize {
    BUDGET.with(|b| b.get().map_or(MAX_SECRET_DATA, |b| b.left))
}

/// Counts `bytes` of finished output against the budget.
pub fn spend(bytes: usize) {
    BUDGET.with(|b| {
        if let Some(mut budget) = b.get() {
            budget.left = budget.left.saturating_sub(bytes);
            b.set(Some(budget));
        }
    });
}

/// `Err` once the time budget is spent.
pub fn check_time() -> Result<(), Over> {
    match BUDGET.with(Cell::get) {
        Some(b) if Instant::now() >= b.deadline => Err(Over::Time),
        _ => Ok(()),
    }
}

/// The writer one template renders into: refuses a write past the output budget or after the
/// time budget, and remembers why, so the caller can tell a limit from an engine error.
///
/// The rendered bytes are plaintext: they are written into a [`SecretWriter`].
#[derive(Default)]
pub struct Output {
    bytes: SecretWriter,
    over: Option<Over>,
}

impl Output {
    /// The limit that stopped the render, if one did.
    pub fn over(&self) -> Option<&Over> {
        self.over.as_ref()
    }

    /// The rendered bytes.
    pub fn into_bytes(self) -> SecretBytes {
        self.bytes.into_secret()
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn refuse(&mut self, over: Over) -> io::Error {
        let error = io::Error::other(over.to_string());
        self.over = Some(over);
        error
    }
}

impl io::Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Err(over) = check_time() {
            return Err(self.refuse(over));
        }
        if self.bytes.len().saturating_add(buf.len()) > left() {
            return Err(self.refuse(Over::Output));
        }
        io::Write::write(&mut self.bytes, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Rendered bytes are plaintext: only their length.
        f.debug_struct("Output")
            .field("len", &self.bytes.len())
            .field("over", &self.over)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn output_stops_at_the_budget_and_says_why() {
        let _running = start(10, MAX_TIME);
        let mut out = Output::default();
        out.write_all(b"0123456789").unwrap();
        assert!(out.write_all(b"x").is_err());
        assert_eq!(out.over(), Some(&Over::Output));
        assert_eq!(out.len(), 10);
    }

    #[test]
    fn spent_bytes_count_for_the_next_template() {
        let _running = start(10, MAX_TIME);
        spend(8);
        assert_eq!(left(), 2);
        let mut out = Output::default();
        assert!(out.write_all(b"abc").is_err());
    }

    #[test]
    fn time_runs_out() {
        let _running = start(10, Duration::ZERO);
        assert_eq!(check_time(), Err(Over::Time));
        let mut out = Output::default();
        assert!(out.write_all(b"a").is_err());
        assert_eq!(out.over(), Some(&Over::Time));
        assert!(Over::Time.to_string().contains("limit of 1 s"));
    }

    #[test]
    fn no_budget_outside_a_render() {
        {
            let _running = start(3, Duration::ZERO);
        }
        assert_eq!(left(), MAX_SECRET_DATA);
        assert_eq!(check_time(), Ok(()));
    }
}
