//! The engine's HTTP/1.1 client against hyper's, request for request: the same mix sent
//! through both to hyper's server and to nginx gives the same statuses, the same headers, the
//! same bodies and byte counts. nginx is required under CI (`.ci/run` installs nginx-light).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper_util::rt::TokioIo;

use crate::util::user_client;

/// A body of several frames and no length: hyper's server sends it chunked.
struct Chunks(VecDeque<Bytes>);

impl Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

type Reply = Response<http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>>;

fn full(status: u16, body: impl Into<Bytes>) -> Reply {
    Response::builder()
        .status(status)
        .body(Full::new(body.into()).boxed())
        .unwrap()
}

fn chunks(size: usize, frame: usize) -> Reply {
    let data: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    let frames = data.chunks(frame).map(Bytes::copy_from_slice).collect();
    Response::new(Chunks(frames).boxed())
}

async fn answer(req: Request<Incoming>) -> Result<Reply, std::convert::Infallible> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let mut reply = match path.as_str() {
        "/len" => full(200, "hello"),
        "/chunked" => chunks(1000, 97),
        "/big" => full(200, vec![b'z'; 300 * 1024]),
        "/big-chunked" => chunks(200 * 1024, 7 * 1024),
        "/empty" => full(204, ""),
        "/not-modified" => full(304, ""),
        "/echo" => {
            let mut r = full(200, body);
            r.headers_mut()
                .insert("x-method", method.as_str().parse().unwrap());
            r
        }
        "/cookie" => {
            let mut r = full(200, "c");
            r.headers_mut()
                .append("set-cookie", "a=1; Path=/".parse().unwrap());
            r.headers_mut().append("set-cookie", "b=2".parse().unwrap());
            r
        }
        "/timing" => {
            let mut r = full(200, "t");
            r.headers_mut().insert(
                "server-timing",
                "pool;dur=0.5, db;dur=1.25, app;dur=0.3".parse().unwrap(),
            );
            r
        }
        "/close" => {
            let mut r = full(200, "bye");
            r.headers_mut()
                .insert("connection", "close".parse().unwrap());
            r
        }
        _ => full(404, "nope"),
    };
    reply
        .headers_mut()
        .insert("x-server", "hyper".parse().unwrap());
    Ok(reply)
}

async fn hyper_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), hyper::service::service_fn(answer))
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

/// One request of the mix: method, path, headers, body.
type Case = (
    Method,
    &'static str,
    Vec<(&'static str, &'static str)>,
    Option<&'static str>,
);

/// What a client saw: status, headers (lower-case names, sorted, without `date`), body, bytes.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    bytes: u64,
}

fn sorted(mut headers: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    headers.retain(|(n, _)| n != "date");
    headers.sort();
    headers
}

async fn through_hyper(url: &str, case: &Case) -> Seen {
    let addr = url.trim_start_matches("http://");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let (method, path, headers, body) = case;
    let mut req = Request::builder()
        .method(method.clone())
        .uri(*path)
        .header("host", addr);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    if body.is_some() {
        req = req.header("content-type", "text/plain");
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
        .collect();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Seen {
        status,
        headers: sorted(headers),
        bytes: body.len() as u64,
        body: body.to_vec(),
    }
}

async fn through_cicada(client: &mut cicada::http::UserClient, case: &Case) -> Seen {
    let (method, path, headers, body) = case;
    let headers: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
    let body = body.map(|b| (b.as_bytes(), &b"text/plain"[..]));
    let exchange = client
        .call(method, path, &headers, body, true)
        .await
        .unwrap_or_else(|f| panic!("{method} {path}: {f:?}"));
    let view = client.response();
    let seen = Seen {
        status: exchange.status,
        headers: sorted(
            view.headers()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.to_vec()))
                .collect(),
        ),
        body: view.body().unwrap_or_default().to_vec(),
        bytes: exchange.bytes,
    };
    assert_eq!(seen.bytes, view.bytes());
    seen
}

/// Send `cases` through both clients (the engine's on one keep-alive connection, reused
/// across the mix) and compare what each saw; returns what the engine's saw.
async fn compare(url: &str, cases: &[Case]) -> Vec<Seen> {
    let mut client = user_client(url, Duration::from_secs(10));
    let mut seen = Vec::new();
    for case in cases {
        let theirs = through_hyper(url, case).await;
        let ours = through_cicada(&mut client, case).await;
        assert_eq!(ours, theirs, "{} {}", case.0, case.1);
        seen.push(ours);
    }
    seen
}

fn chunked(seen: &Seen) -> bool {
    seen.headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v == b"chunked")
}

fn get(path: &'static str) -> Case {
    (Method::GET, path, vec![], None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_answers_as_hypers_client_from_hypers_server() {
    let url = hyper_server().await;
    let cases = vec![
        get("/len"),
        get("/chunked"),
        get("/big"),
        get("/big-chunked"),
        get("/empty"),
        get("/not-modified"),
        (Method::HEAD, "/len", vec![], None),
        (
            Method::POST,
            "/echo",
            vec![("x-a", "1")],
            Some("posted body"),
        ),
        (Method::PUT, "/echo", vec![], Some("")),
        get("/cookie"),
        get("/timing"),
        get("/close"),
        get("/len"),
        get("/missing"),
    ];
    let seen = compare(&url, &cases).await;
    // The mix covers what it claims: chunked bodies, one larger than the read buffer.
    assert!(chunked(&seen[1]) && chunked(&seen[3]) && seen[3].bytes == 200 * 1024);
    assert_eq!(
        (seen[4].status, seen[5].status, seen[6].bytes),
        (204, 304, 0)
    );
}

/// nginx on a free port of this suite's range, in a temporary prefix; stopped on drop.
struct Nginx {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn free_port() -> u16 {
    (26100..26999)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port in 26100-26999")
}

fn start_nginx(bin: &Path) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("www");
    std::fs::create_dir_all(root.join("static")).unwrap();
    std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
    std::fs::write(root.join("static/small.txt"), "small").unwrap();
    let big: Vec<u8> = (0..(1024 * 1024 + 7)).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.join("static/big.bin"), big).unwrap();
    let text = "the quick brown fox jumps over the lazy dog\n".repeat(1500);
    std::fs::write(root.join("static/text.txt"), text).unwrap();
    let port = free_port();
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n access_log off;\n server_tokens off;\n\
         client_body_temp_path {d}/tmp/body;\n proxy_temp_path {d}/tmp/proxy;\n\
         fastcgi_temp_path {d}/tmp/fastcgi;\n uwsgi_temp_path {d}/tmp/uwsgi;\n\
         scgi_temp_path {d}/tmp/scgi;\n\
         server {{\n  listen 127.0.0.1:{port};\n  root {root};\n\
          location /static/ {{ gzip on; gzip_types text/plain; gzip_min_length 0; }}\n\
          location = /redirect {{ return 301 /static/small.txt; }}\n\
          location = /empty {{ return 204; }}\n\
          location = /cookie {{ add_header Set-Cookie \"a=1; Path=/\"; \
             add_header Set-Cookie \"b=2\"; return 200 \"c\"; }}\n\
          location = /close {{ keepalive_timeout 0; return 200 \"bye\"; }}\n\
          location = /echo {{ return 200 \"posted\"; }}\n\
         }}\n}}\n",
        d = dir.path().display(),
        root = root.display(),
    );
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut child = std::process::Command::new(bin)
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf_path)
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nginx starts");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Nginx {
                child,
                url: format!("http://127.0.0.1:{port}"),
                _dir: dir,
            };
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "nginx did not listen on {port}: {}",
        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_answers_as_hypers_client_from_nginx() {
    let Some(bin) = cicada_testkit::required::require(
        "same_answers_as_hypers_client_from_nginx",
        "nginx",
        "apt-get install nginx-light",
        nginx_binary(),
    ) else {
        return;
    };
    let nginx = start_nginx(&bin);
    let gzip = vec![("accept-encoding", "gzip")];
    let cases = vec![
        get("/static/small.txt"),
        get("/static/big.bin"),
        (Method::HEAD, "/static/big.bin", vec![], None),
        // gzip on the fly: nginx sends it chunked.
        (Method::GET, "/static/text.txt", gzip.clone(), None),
        get("/static/text.txt"),
        (
            Method::GET,
            "/static/small.txt",
            vec![("range", "bytes=1-3")],
            None,
        ),
        (
            Method::GET,
            "/static/small.txt",
            vec![("if-none-match", "\"*\"")],
            None,
        ),
        get("/redirect"),
        get("/empty"),
        get("/cookie"),
        (Method::POST, "/echo", vec![], Some("a body nginx reads")),
        (Method::POST, "/static/small.txt", vec![], Some("x")),
        get("/close"),
        get("/nope"),
        get("/static/small.txt"),
    ];
    let seen = compare(&nginx.url, &cases).await;
    assert!(chunked(&seen[3]), "gzip on the fly is chunked");
    assert_eq!(seen[1].bytes, 1024 * 1024 + 7);
    assert_eq!((seen[2].status, seen[2].bytes), (200, 0));
    assert_eq!(seen[5].status, 206);
}
