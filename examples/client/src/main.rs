//! `uidcache-example-client [DIR]`: plays the three connections of the example on the
//! cache in DIR (a temporary directory when none is given) and prints what a client shows.
//! `uidcache-example-client reader DIR FIRST LAST`: the second process, which prints
//! messages FIRST..=LAST of the cache in DIR, opened read-only.
//!
//! `cargo run -p uidcache-example-client`

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    match try_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("uidcache-example-client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn try_main() -> uidcache_example_client::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [mode, dir, first, last] if mode == "reader" => {
            let seqs = first.parse()?..=last.parse()?;
            print!(
                "{}",
                uidcache_example_client::reader::print_page(dir.as_ref(), seqs)?
            );
        }
        [] | [_] => {
            let temp = tempfile::tempdir()?;
            let dir = match args.first() {
                Some(dir) => PathBuf::from(dir),
                None => temp.path().join("INBOX"),
            };
            // The reader is this same program, in reader mode.
            let exe = std::env::current_exe()?;
            uidcache_example_client::run(&dir, &exe, &mut std::io::stdout().lock())?;
        }
        _ => return Err("usage: uidcache-example-client [DIR] | reader DIR FIRST LAST".into()),
    }
    Ok(())
}
