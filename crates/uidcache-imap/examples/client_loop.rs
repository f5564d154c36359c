//! Using uidcache-imap from a client's own response loop, without the CLI: tell the session
//! what you sent, hand it every line the server sends, commit when it says so. Here the
//! "connection" is a list of lines; in a client it is the socket reader.
//!
//! Run: `cargo run -p uidcache-imap --example client_loop`

use uidcache_engine::Cache;
use uidcache_imap::{qresync_param, Session, Step};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("uidcache-example-{}", std::process::id()));
    let mut cache = Cache::open(&dir)?;
    let mut session = Session::new();

    // (what the client sent, what the server answered)
    let exchange: [(&str, &[&str]); 3] = [
        (
            "a1 SELECT INBOX (CONDSTORE)",
            &[
                "* 3 EXISTS",
                "* OK [UIDVALIDITY 42] ok",
                "* OK [HIGHESTMODSEQ 7] ok",
                "a1 OK [READ-WRITE] done",
            ],
        ),
        (
            "a2 UID SEARCH RETURN (ALL) 1:*",
            &["* ESEARCH (TAG \"a2\") UID ALL 4,9:10", "a2 OK done"],
        ),
        (
            "a3 NOOP",
            &[
                "* 2 FETCH (MODSEQ (8) FLAGS (\\Seen))",
                "* 1 EXPUNGE",
                "a3 OK done",
            ],
        ),
    ];

    let mut tx = cache.transaction()?;
    let mut line_no = 0;
    for (command, responses) in exchange {
        session.command(&mut tx, command.as_bytes())?;
        for response in responses {
            line_no += 1;
            if session.response(&mut tx, line_no, response.as_bytes())? == Step::Commit {
                tx.commit()?;
                tx = cache.transaction()?;
            }
        }
    }
    drop(tx);

    let view = cache.view();
    print!("{}", uidcache_imap::dump_to_string(&view)?);
    if let Some(param) = qresync_param(&view)? {
        println!("next time: SELECT INBOX {param}");
    }
    drop(cache);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
