//! A TCP proxy in front of the registry that misbehaves on purpose: it cuts the connection
//! part-way through a blob download, or slows every response down.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Cut the first `times` downloads of a blob after `after` response bytes.
    CutBlob { after: i64, times: u32 },
    /// Send at most `bytes_per_tick` every 10 ms.
    Slow { bytes_per_tick: usize },
}

pub struct Proxy {
    pub addr: String,
    stop: Arc<AtomicBool>,
    /// How many times a download was cut.
    pub cuts: Arc<AtomicU32>,
}

impl Proxy {
    pub fn start(upstream: &str, fault: Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let cuts = Arc::new(AtomicU32::new(0));
        let (upstream, stop2, cuts2) = (upstream.to_string(), stop.clone(), cuts.clone());
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let server = TcpStream::connect(&upstream).unwrap();
                        pipe(client, server, fault, cuts2.clone());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Proxy { addr, stop, cuts }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn pipe(client: TcpStream, server: TcpStream, fault: Fault, cuts: Arc<AtomicU32>) {
    // Response bytes still allowed before the cut; negative means "no cut pending".
    let budget = Arc::new(AtomicI64::new(-1));
    let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let b = budget.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match c_read.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if let Fault::CutBlob { after, times } = fault {
                let text = String::from_utf8_lossy(&buf[..n]);
                if text.starts_with("GET ")
                    && text.contains("/blobs/sha256:")
                    && cuts.load(Ordering::SeqCst) < times
                {
                    cuts.fetch_add(1, Ordering::SeqCst);
                    b.store(after, Ordering::SeqCst);
                }
            }
            if s_write.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = s_write.shutdown(Shutdown::Write);
    });
    let (mut s_read, mut c_write) = (server, client);
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let want = match fault {
                Fault::Slow { bytes_per_tick } => bytes_per_tick.min(buf.len()),
                _ => buf.len(),
            };
            let n = match s_read.read(&mut buf[..want]) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let left = budget.load(Ordering::SeqCst);
            if left >= 0 {
                let send = (left as usize).min(n);
                let _ = c_write.write_all(&buf[..send]);
                if send < n || left as usize == n {
                    let _ = c_write.shutdown(Shutdown::Both);
                    let _ = s_read.shutdown(Shutdown::Both);
                    break;
                }
                budget.store(left - n as i64, Ordering::SeqCst);
            } else if c_write.write_all(&buf[..n]).is_err() {
                break;
            }
            if let Fault::Slow { .. } = fault {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    });
}
