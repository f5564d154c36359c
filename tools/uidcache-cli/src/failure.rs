//! How a command fails, and which exit code that is.

use std::fmt;

use uidcache_engine::ErrorKind;

/// A failure of the command, with its exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad input or a bad cache: exit 1.
    Input(String),
    /// A usage or I/O problem: exit 2.
    Io(String),
    /// Some mailboxes of an account failed, the others were synced: exit 3.
    Partial(String),
    /// Stopped by Ctrl-C, with everything done so far committed: exit 130.
    Interrupted(String),
    /// The reader of stdout went away (`| head`): a quiet exit 0, as it wants no more.
    StdoutClosed,
}

impl Failure {
    /// 1 for input/cache errors, 2 for usage/I/O errors, 3 when some mailboxes of an
    /// account failed, 130 for Ctrl-C.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Input(_) => 1,
            Failure::Io(_) => 2,
            Failure::Partial(_) => 3,
            Failure::Interrupted(_) => 130,
            Failure::StdoutClosed => 0,
        }
    }

    /// Classifies an engine error: I/O and locking are exit 2, the rest exit 1.
    pub fn engine(context: &str, e: uidcache_engine::Error) -> Failure {
        match e.kind() {
            ErrorKind::Io { .. } | ErrorKind::Locked { .. } => {
                Failure::Io(format!("{context}: {e}"))
            }
            _ => Failure::Input(format!("{context}: {e}")),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Input(m) | Failure::Io(m) | Failure::Partial(m) | Failure::Interrupted(m) => {
                f.write_str(m)
            }
            Failure::StdoutClosed => f.write_str("stdout closed"),
        }
    }
}
