//! No allocation per request in the steady state: after a few warm-up requests, a user's
//! client sends and reads GET after GET (a keep-alive connection, a server on another thread)
//! without allocating once on its own thread.
//!
//! A counting global allocator needs `unsafe impl GlobalAlloc`; it only forwards to the system
//! allocator, and lives in its own test binary so no other test runs under it.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A keep-alive HTTP/1.1 server on its own thread: each request head gets a small response
/// (Content-Length, a `Server` header); every tenth one is chunked.
fn server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { return };
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let mut n = 0u64;
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        n += 1;
                        let reply: &[u8] = if n.is_multiple_of(10) {
                            b"HTTP/1.1 200 OK\r\nServer: t\r\nTransfer-Encoding: chunked\r\n\r\n\
                              5\r\nhello\r\n0\r\n\r\n"
                        } else {
                            b"HTTP/1.1 200 OK\r\nServer: t\r\nContent-Length: 5\r\n\r\nhello"
                        };
                        if sock.write_all(reply).is_err() {
                            return;
                        }
                    }
                    match sock.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn steady_state_requests_do_not_allocate() {
    let url = server();
    let target = cicada::target::Target::parse(&url).unwrap();
    let addr = format!("{}:{}", target.host, target.port).parse().unwrap();
    let mut settings = cicada::http::ClientSettings::new(target, addr);
    settings.request_timeout = Duration::from_secs(10);
    let mut client = cicada::http::UserClient::new(Arc::new(settings));
    let prepared = cicada::http::Prepared::new(
        &http::Method::GET,
        &client.settings().host,
        Some("/x?y=1"),
        [("accept", &b"*/*"[..])],
        ["accept"],
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut run = |n: usize, want_body: bool| {
        rt.block_on(async {
            for _ in 0..n {
                let mut w = client.request(&prepared, &http::Method::GET, None).unwrap();
                w.header("x-dyn", b"value").unwrap();
                let exchange = client.send(None, want_body).await.unwrap();
                assert_eq!((exchange.status, exchange.bytes), (200, 5));
            }
        })
    };
    run(50, true);
    COUNTING.with(|c| c.set(true));
    run(2000, true);
    run(2000, false);
    COUNTING.with(|c| c.set(false));
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    eprintln!("{allocations} allocations in 4,000 requests");
    // 4,000 requests: none of them allocates (a few allocations of the runtime itself, e.g.
    // its timer wheel growing, are allowed for, not one per request).
    assert!(
        allocations < 20,
        "{allocations} allocations in 4,000 requests"
    );
}
