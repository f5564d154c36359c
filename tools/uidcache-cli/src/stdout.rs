//! Output on stdout. A reader that stops early (`uidcache dump DIR | head`) closes the pipe;
//! that ends the command quietly instead of a panic (what `println!` does on EPIPE).

use std::io::Write;

use crate::failure::Failure;

/// Writes `bytes` to stdout (flag names are bytes as the server sent them, not always UTF-8).
pub fn write(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                Failure::StdoutClosed
            } else {
                Failure::Io(format!("writing to stdout: {e}"))
            }
        })
}

/// `println!` that returns a [`Failure`] instead of panicking.
macro_rules! outln {
    () => { $crate::stdout::write(b"\n")? };
    ($($arg:tt)*) => { $crate::stdout::write(format!("{}\n", format_args!($($arg)*)).as_bytes())? };
}

/// `print!` that returns a [`Failure`] instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => { $crate::stdout::write(format!($($arg)*).as_bytes())? };
}

pub(crate) use {out, outln};
