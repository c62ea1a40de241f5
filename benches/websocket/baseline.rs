//! The hand-written comparison: a minimal tokio-tungstenite broadcast server. Connections whose
//! URL asks to `subscribe` get every published message through a `tokio::sync::broadcast`
//! channel (a lagging one skips, as runnel's `drop_oldest`); the others publish
//! `{"op": "publish", "data": ...}` frames, whose `data` is re-serialised and broadcast.

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Frames the broadcast channel holds for the slowest subscriber (runnel's `queue`).
const CAPACITY: usize = 4096;

pub(crate) async fn serve(listener: TcpListener) {
    let (tx, _) = broadcast::channel::<Utf8Bytes>(CAPACITY);
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, tx.clone()));
    }
}

// The handshake callback's error type is tungstenite's HTTP response, large by its design.
#[allow(clippy::result_large_err)]
async fn connection(stream: TcpStream, tx: broadcast::Sender<Utf8Bytes>) {
    let mut subscriber = false;
    let callback = |request: &Request, response: Response| {
        subscriber = request.uri().query().is_some_and(|q| q.contains("subscribe="));
        Ok(response)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else { return };
    let (mut sink, mut stream) = ws.split();
    if !subscriber {
        while let Some(Ok(frame)) = stream.next().await {
            if let Message::Text(text) = frame {
                if let Ok(mut request) = serde_json::from_str::<Value>(&text) {
                    let _ = tx.send(request["data"].take().to_string().into());
                }
            }
        }
        return;
    }
    let mut rx = tx.subscribe();
    if sink.send(Message::text(r#"{"op":"subscribed"}"#)).await.is_err() {
        return;
    }
    loop {
        let frame = match rx.recv().await {
            Ok(frame) => frame,
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        };
        if sink.feed(Message::Text(frame)).await.is_err() {
            return;
        }
        while let Ok(more) = rx.try_recv() {
            if sink.feed(Message::Text(more)).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}
