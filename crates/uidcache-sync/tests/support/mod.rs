//! Scripted IMAP servers on loopback for the integration tests of `uidcache-sync`
//! (`mod support;`): each connection follows a script of expected client lines and replies.
#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "each test binary uses only part of the support code"
)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

use uidcache_sync::{SyncOptions, Target};

/// One exchange: wait for a client line containing `expect` (none for the greeting), then
/// send `reply` lines with `{tag}` replaced by the client's tag.
pub struct Step {
    pub expect: Option<&'static str>,
    pub reply: Vec<&'static str>,
}

pub fn step(expect: &'static str, reply: &[&'static str]) -> Step {
    Step {
        expect: Some(expect),
        reply: reply.to_vec(),
    }
}

/// Serves one connection with `script`; the thread returns the lines the client sent.
/// When the script ends the connection is closed.
pub fn serve(greeting: &'static str, script: Vec<Step>) -> (u16, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut out = stream.try_clone().unwrap();
        let mut input = BufReader::new(stream);
        let mut seen = Vec::new();
        out.write_all(format!("{greeting}\r\n").as_bytes()).unwrap();
        for s in script {
            let mut tag = String::new();
            if let Some(expect) = s.expect {
                let mut line = String::new();
                if input.read_line(&mut line).unwrap() == 0 {
                    break;
                }
                let line = line.trim_end().to_string();
                assert!(line.contains(expect), "expected {expect:?}, got {line:?}");
                tag = line.split(' ').next().unwrap().to_string();
                seen.push(line);
            }
            for r in &s.reply {
                let _ = out.write_all(format!("{}\r\n", r.replace("{tag}", &tag)).as_bytes());
            }
        }
        seen
    });
    (port, handle)
}

pub fn options(port: u16, password: &str) -> SyncOptions {
    let target = Target::parse(&format!("imap://tester@127.0.0.1:{port}/INBOX")).unwrap();
    SyncOptions::new(target, password.to_string())
}

/// Serves one connection per script, one after the other (a sync that reconnects).
pub fn serve_many(
    greeting: &'static str,
    scripts: Vec<Vec<Step>>,
) -> (u16, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for script in scripts {
            let (stream, _) = listener.accept().unwrap();
            let mut out = stream.try_clone().unwrap();
            let mut input = BufReader::new(stream);
            out.write_all(format!("{greeting}\r\n").as_bytes()).unwrap();
            for s in script {
                let mut line = String::new();
                if input.read_line(&mut line).unwrap() == 0 {
                    break;
                }
                let line = line.trim_end().to_string();
                let expect = s.expect.unwrap();
                assert!(line.contains(expect), "expected {expect:?}, got {line:?}");
                let tag = line.split(' ').next().unwrap().to_string();
                seen.push(line);
                for r in &s.reply {
                    let _ = out.write_all(format!("{}\r\n", r.replace("{tag}", &tag)).as_bytes());
                }
            }
            seen.push("-- closed".to_string());
        }
        seen
    });
    (port, handle)
}
