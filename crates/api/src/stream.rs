//! Chunked JSON-lines responses (pull, push, load, import progress): one `JSONMessage` per line,
//! sent as it happens, with HTTP/1.1 chunked encoding so docker-py streams it.

use axum::body::Body;
use axum::http::header;
use axum::response::Response;
use berth_image::progress::JsonMessage;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream_shim::ReceiverStream;

/// A response that streams every message sent on `rx` until all senders are gone.
pub fn json_lines(rx: mpsc::Receiver<JsonMessage>) -> Response {
    let body = ReceiverStream::new(rx).map(|m| {
        let mut line = serde_json::to_vec(&m).unwrap_or_default();
        line.push(b'\n');
        Ok::<_, std::convert::Infallible>(Bytes::from(line))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(body))
        .expect("static response parts")
}

/// A response that streams the chunks sent on `rx` as they come (logs, wait, events).
pub fn bytes(rx: mpsc::Receiver<Bytes>, content_type: &'static str) -> Response {
    let body = ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>);
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from_stream(body))
        .expect("static response parts")
}

/// The few lines of `tokio-stream`'s `ReceiverStream` we need, to avoid a crate for one adapter.
mod tokio_stream_shim {
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::sync::mpsc;

    pub struct ReceiverStream<T>(mpsc::Receiver<T>);

    impl<T> ReceiverStream<T> {
        pub fn new(rx: mpsc::Receiver<T>) -> Self {
            ReceiverStream(rx)
        }
    }

    impl<T> futures::Stream for ReceiverStream<T> {
        type Item = T;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
            self.0.poll_recv(cx)
        }
    }
}

/// A tar (or any byte stream) written by blocking code, as a response body. A write error is
/// the client gone: `f` stops there. An error of `f`'s own cuts the body short, so the client
/// sees a broken stream rather than a whole one.
pub fn tar_from_blocking(
    f: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()> + Send + 'static,
) -> Response {
    let (tx, mut rx) = mpsc::channel::<std::io::Result<Bytes>>(16);
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter { tx: tx.clone() };
        if let Err(e) = f(&mut w) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    let body = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Response::builder()
        .header(axum::http::header::CONTENT_TYPE, "application/x-tar")
        .body(axum::body::Body::from_stream(body))
        .expect("static response parts")
}

/// Feeds a blocking writer's output into a response body.
struct ChannelWriter {
    tx: mpsc::Sender<std::io::Result<Bytes>>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
