//! The `websocket_server` source and sink against Python `websockets` clients: channels,
//! private answers, lifecycle events, history, authentication, limits, slow consumers, static
//! files and shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use runnel::RunningPipeline;
use runnel_connectors::websocket_server::sign_jwt;
use runnel_connectors::{MemoryInput, MemoryOutput, take_input, take_output};
use serde_json::{Value, json};

use super::peer::{Peer, python};
use super::{eventually, metric};
use crate::support::{free_addr, http_get, pipeline};

const WAIT: Duration = Duration::from_secs(20);

/// A connected client peer, past its welcome frame.
struct Client {
    peer: Peer,
    id: String,
}

impl Client {
    async fn connect(addr: SocketAddr, query: &str) -> Self {
        let mut peer = Peer::start(&["client", "--url", &format!("ws://{addr}/ws{query}")]).await.expect("python checked");
        peer.until("open").await;
        let welcome = peer.frame().await;
        assert_eq!(welcome["op"], "welcome", "{welcome}");
        let id = welcome["client_id"].as_str().expect("a client id").to_owned();
        Self { peer, id }
    }

    async fn frame(&mut self) -> Value {
        self.peer.frame().await
    }

    async fn send(&mut self, frame: &Value) {
        self.peer.command(&format!("send {frame}")).await;
    }

    async fn publish(&mut self, room: &str, text: &str) {
        self.send(&json!({"op": "publish", "channel": "chat/out", "data": {"room": room, "text": text}})).await;
    }
}

async fn recv(output: &mut MemoryOutput) -> runnel::Message {
    tokio::time::timeout(WAIT, output.recv()).await.expect("a message in time").expect("the sink runs")
}

async fn stop(running: RunningPipeline) {
    running.shutdown_token().cancel();
    tokio::time::timeout(WAIT, running.wait()).await.expect("stops in time").expect("stops cleanly");
}

const CHAT: &str = r#"
[sources.ws]
type = "websocket_server"
address = "ADDR"
private_channel = "in/{client_id}"
sender_field = "from"

[blocks.said]
type = "filter"
inputs = ["ws"]
condition = '.text | startswith("/") | not'

[blocks.commands]
type = "filter"
inputs = ["ws"]
condition = '.text | startswith("/")'

[blocks.answer]
type = "map"
inputs = ["commands"]
program = '{answer: "you asked for \(.text[1:])", to: .from.user}'

[sinks.rooms]
type = "websocket_server"
inputs = ["said"]
server = "ws"
channel = "room/{room}"

[sinks.private]
type = "websocket_server"
inputs = ["answer"]
server = "ws"
channel = "in/{client_id}"

[sinks.published]
type = "memory"
inputs = ["ws"]

[sinks.events]
type = "memory"
inputs = ["ws.events"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_private_answers_and_lifecycle_events() {
    if python().is_none() {
        return;
    }
    let addr = free_addr();
    let running = pipeline(&CHAT.replace("ADDR", &addr.to_string())).start().await.expect("starts");
    let mut published = take_output(running.resources(), "published").expect("published");
    let mut events = take_output(running.resources(), "events").expect("events");

    let mut ann = Client::connect(addr, "?user=ann&subscribe=room/lobby").await;
    assert_eq!(ann.frame().await, json!({"op": "subscribed", "channel": "room/lobby", "history": 0}));
    let mut bob = Client::connect(addr, "?user=bob").await;
    bob.send(&json!({"op": "subscribe", "channel": "room/lobby"})).await;
    assert_eq!(bob.frame().await["op"], "subscribed");
    let mut cat = Client::connect(addr, "?user=cat&subscribe=room/garden").await;
    assert_eq!(cat.frame().await["op"], "subscribed");

    ann.publish("lobby", "hello").await;
    let expected = json!({"channel": "room/lobby", "data": {"room": "lobby", "text": "hello", "from": {"client_id": ann.id, "user": "ann"}}});
    assert_eq!(ann.frame().await, expected);
    assert_eq!(bob.frame().await, expected);
    let message = recv(&mut published).await;
    assert_eq!(message.meta().attribute("client_id"), Some(&json!(ann.id)));
    assert_eq!(message.meta().attribute("channel"), Some(&json!("chat/out")));
    assert_eq!(message.meta().attribute("user"), Some(&json!("ann")));

    bob.publish("lobby", "/time").await;
    let private = json!({"channel": format!("in/{}", bob.id), "data": {"answer": "you asked for time", "to": "bob"}});
    assert_eq!(bob.frame().await, private, "the sender gets the answer on its private channel");
    cat.publish("garden", "anyone?").await;
    assert_eq!(cat.frame().await["data"]["text"], "anyone?", "nothing from the lobby reached the garden");
    ann.publish("lobby", "bye").await;
    assert_eq!(ann.frame().await["data"]["text"], "bye", "ann did not get bob's private answer");

    cat.send(&json!({"op": "subscribe", "channel": format!("in/{}", ann.id)})).await;
    let refused = cat.frame().await;
    assert_eq!(refused["op"], "error", "{refused}");

    let mut seen = Vec::new();
    while seen.len() < 6 {
        let event = recv(&mut events).await.into_value();
        seen.push((event["event"].as_str().unwrap_or_default().to_owned(), event["user"].clone(), event["channel"].clone()));
    }
    for (event, user, channel) in [
        ("connected", "ann", Value::Null),
        ("subscribed", "ann", json!("room/lobby")),
        ("connected", "bob", Value::Null),
        ("subscribed", "bob", json!("room/lobby")),
        ("connected", "cat", Value::Null),
        ("subscribed", "cat", json!("room/garden")),
    ] {
        assert!(seen.contains(&(event.to_owned(), json!(user), channel.clone())), "{event} {user} {channel} not in {seen:?}");
    }
    bob.peer.command("close").await;
    assert_eq!(bob.peer.until("closed").await["code"], 1000, "the server answers a client's close");
    let left = recv(&mut events).await.into_value();
    assert_eq!(left["event"], "disconnected");
    assert_eq!(left["client_id"], json!(bob.id));
    assert_eq!(left["reason"], "closed");
    assert_eq!(left["channels"], json!([format!("in/{}", bob.id), "room/lobby"]));

    stop(running).await;
    let closed = ann.peer.until("closed").await;
    assert_eq!(closed["code"], 1001, "clients are told the server is going away: {closed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_replayed_from_the_store_and_from_deliveries() {
    if python().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("log.ndjson");
    std::fs::write(
        &store,
        "{\"room\":\"lobby\",\"text\":\"one\"}\n{\"room\":\"other\",\"text\":\"elsewhere\"}\nnot json\n{\"room\":\"lobby\",\"text\":\"two\"}\n",
    )
    .expect("writes");
    let addr = free_addr();
    let running = pipeline(&format!(
        r#"
        [sources.ws]
        type = "websocket_server"
        address = "{addr}"
        history = {{ size = 3, file = {store:?}, channel = "room/{{room}}" }}

        [sinks.rooms]
        type = "websocket_server"
        inputs = ["ws"]
        server = "ws"
        channel = "room/{{room}}"
        "#
    ))
    .start()
    .await
    .expect("starts");

    let mut ann = Client::connect(addr, "?subscribe=room/lobby").await;
    assert_eq!(ann.frame().await, json!({"op": "subscribed", "channel": "room/lobby", "history": 2}));
    for text in ["one", "two"] {
        assert_eq!(ann.frame().await, json!({"channel": "room/lobby", "data": {"room": "lobby", "text": text}, "history": true}));
    }
    for text in ["three", "four"] {
        ann.publish("lobby", text).await;
        assert_eq!(ann.frame().await["data"]["text"], text);
    }
    let mut late = Client::connect(addr, "?subscribe=room/lobby").await;
    assert_eq!(late.frame().await["history"], 3, "the last 3 of the channel");
    let mut replayed = Vec::new();
    for _ in 0..3 {
        let frame = late.frame().await;
        assert_eq!(frame["history"], true);
        replayed.push(frame["data"]["text"].clone());
    }
    assert_eq!(replayed, [json!("two"), json!("three"), json!("four")]);
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_a_valid_token_are_refused_before_the_upgrade() {
    if python().is_none() {
        return;
    }
    let secret = "a-long-enough-shared-secret";
    let addr = free_addr();
    let running = pipeline(&format!(
        r#"
        [sources.ws]
        type = "websocket_server"
        address = "{addr}"
        auth = {{ tokens = ["let-me-in"], hmac_secret = "{secret}" }}

        [sinks.rooms]
        type = "websocket_server"
        inputs = ["ws"]
        server = "ws"
        channel = "{{channel}}"
        "#
    ))
    .start()
    .await
    .expect("starts");
    let url = |query: &str| format!("ws://{addr}/ws{query}");
    for query in ["", "?token=wrong"] {
        let mut peer = Peer::start(&["client", "--url", &url(query)]).await.expect("python");
        let refused = peer.until("refused").await;
        assert_eq!(refused["status"], 401, "{query}: {refused}");
    }
    let expired = sign_jwt(secret.as_bytes(), &json!({"sub": "eve", "exp": 1}));
    let mut peer = Peer::start(&["client", "--url", &url(&format!("?token={expired}"))]).await.expect("python");
    assert_eq!(peer.until("refused").await["body"], "the token has expired\n");
    assert_eq!(http_get(addr, "/ws").map(|(status, _)| status), Some(401), "a plain request is refused too");

    let mut with_token = Client::connect(addr, "?token=let-me-in&user=ann").await;
    with_token.send(&json!({"op": "subscribe", "channel": "news"})).await;
    assert_eq!(with_token.frame().await["op"], "subscribed");
    let jwt = sign_jwt(secret.as_bytes(), &json!({"sub": "joe", "exp": 4_000_000_000_u64}));
    let header = format!("Authorization: Bearer {jwt}");
    let mut joe = Peer::start(&["client", "--url", &url("?user=pretender"), "--header", &header]).await.expect("python");
    joe.until("open").await;
    assert_eq!(joe.frame().await["user"], "joe", "a JWT's subject names the client, whatever the query says");
    // Fractional or non-numeric dates and non-string subjects: RFC 7519, not "never expires".
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs_f64();
    for (claims, body) in [
        (json!({"sub": "eve", "exp": now - 3_600.0 + 0.5}), "the token has expired\n"),
        (json!({"sub": "eve", "exp": "soon"}), "the token is not valid\n"),
        (json!({"sub": 42, "exp": now + 60.0}), "the token is not valid\n"),
    ] {
        let jwt = sign_jwt(secret.as_bytes(), &claims);
        let header = format!("Authorization: BEARER {jwt}");
        let mut eve = Peer::start(&["client", "--url", &url("?user=admin"), "--header", &header]).await.expect("python");
        assert_eq!(eve.until("refused").await["body"], body, "{claims}");
    }
    assert_eq!(metric(running.metrics(), "runnel_websocket_server_refused_total", "ws"), 7.0);
    stop(running).await;
}

const FIREHOSE: &str = r#"
[sources.ws]
type = "websocket_server"
address = "ADDR"
queue = 128
slow_consumer = "POLICY"

[sources.feed]
type = "memory"
open = true

[sinks.out]
type = "websocket_server"
inputs = ["feed"]
server = "ws"
channel = "firehose"
"#;

/// A firehose server with a slow client (which reads nothing until told) and a fast one.
async fn firehose(policy: &str) -> Option<(RunningPipeline, MemoryInput, Client, Client)> {
    python()?;
    let addr = free_addr();
    let toml = FIREHOSE.replace("ADDR", &addr.to_string()).replace("POLICY", policy);
    let running = pipeline(&toml).start().await.expect("starts");
    let feed = take_input(running.resources(), "feed").expect("feed");
    let url = format!("ws://{addr}/ws?subscribe=firehose");
    let mut slow = Peer::start(&["client", "--slow", "--url", &url]).await.expect("python");
    slow.until("open").await;
    let slow = Client { peer: slow, id: String::new() };
    let mut fast = Client::connect(addr, "?subscribe=firehose").await;
    assert_eq!(fast.frame().await["op"], "subscribed");
    eventually("both subscribed", || metric(running.metrics(), "runnel_websocket_server_clients", "ws") == 2.0).await;
    Some((running, feed, slow, fast))
}

/// Sends 2,000 messages of 16 KiB (32 MB, more than socket buffers hold), the last one marked,
/// in rounds of 100 that the fast client reads entirely, in order, before the next round.
async fn flood(feed: &MemoryInput, fast: &mut Client) {
    let filler = "x".repeat(16 * 1024);
    for round in (0..2_000_u64).step_by(100) {
        for n in round..round + 100 {
            feed.send(json!({"n": n, "last": n == 1_999, "filler": filler})).await.expect("sent");
        }
        for n in round..round + 100 {
            assert_eq!(fast.frame().await["data"]["n"], n, "the fast client gets everything, in order");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_loses_its_oldest_frames_and_nobody_waits_for_it() {
    let Some((running, feed, mut slow, mut fast)) = firehose("drop_oldest").await else { return };
    flood(&feed, &mut fast).await;
    assert!(metric(running.metrics(), "runnel_websocket_server_frames_dropped_total", "ws") > 0.0);
    slow.peer.command("read").await;
    let mut got = Vec::new();
    loop {
        let frame = slow.frame().await;
        if frame["op"].is_string() {
            continue;
        }
        got.push(frame["data"]["n"].as_u64().expect("n"));
        if frame["data"]["last"] == true {
            break;
        }
    }
    assert!(got.len() < 2_000, "the slow client lost frames");
    assert!(got.windows(2).all(|w| w[0] < w[1]), "what it got is in order");
    assert_eq!(got.last(), Some(&1_999), "and the newest frames are kept");
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_disconnected_under_the_disconnect_policy() {
    let Some((running, feed, mut slow, mut fast)) = firehose("disconnect").await else { return };
    flood(&feed, &mut fast).await;
    eventually("the slow client to be cut off", || metric(running.metrics(), "runnel_websocket_server_disconnects_total", "ws") == 1.0).await;
    slow.peer.command("read").await;
    let closed = slow.peer.until("closed").await;
    assert_ne!(closed["code"], 1000, "{closed}");
    assert_eq!(metric(running.metrics(), "runnel_websocket_server_clients", "ws"), 1.0);
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_bad_frames_and_static_files() {
    if python().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("index.html"), "<h1>chat</h1>").expect("writes");
    let addr = free_addr();
    let running = pipeline(&format!(
        r#"
        [sources.ws]
        type = "websocket_server"
        address = "{addr}"
        static_dir = {:?}
        max_connections = 2
        max_frame_bytes = 1024
        default_channel = "inbox"

        [sinks.inbox]
        type = "memory"
        inputs = ["ws"]

        [sinks.bad]
        type = "memory"
        inputs = ["ws.errors"]
        "#,
        dir.path().display().to_string()
    ))
    .start()
    .await
    .expect("starts");
    let mut inbox = take_output(running.resources(), "inbox").expect("inbox");
    let mut bad = take_output(running.resources(), "bad").expect("bad");
    assert_eq!(http_get(addr, "/"), Some((200, "<h1>chat</h1>".to_owned())));
    assert_eq!(http_get(addr, "/missing.js").map(|r| r.0), Some(404));
    assert_eq!(http_get(addr, "/../Cargo.toml").map(|r| r.0), Some(404));

    let mut ann = Client::connect(addr, "").await;
    ann.send(&json!({"bare": true})).await;
    let message = recv(&mut inbox).await;
    assert_eq!(message.value(), &json!({"bare": true}));
    assert_eq!(message.meta().attribute("channel"), Some(&json!("inbox")), "bare JSON goes to the default channel");
    ann.peer.command("send {not json").await;
    assert!(ann.frame().await["error"].as_str().is_some_and(|e| e.contains("invalid JSON")));
    let record = recv(&mut bad).await.into_value();
    assert_eq!(record["message"], "{not json");
    assert_eq!(record["origin"]["stream"], json!(format!("client {}", ann.id)), "{record}");

    let _bob = Client::connect(addr, "").await;
    let mut third = Peer::start(&["client", "--url", &format!("ws://{addr}/ws")]).await.expect("python");
    assert_eq!(third.until("refused").await["status"], 503, "max_connections = 2");

    ann.send(&json!({"big": "y".repeat(2_000)})).await;
    let closed = ann.peer.until("closed").await;
    assert_eq!(closed["code"], 1009, "a frame over max_frame_bytes closes the connection: {closed}");
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_has_at_most_max_subscriptions() {
    if python().is_none() {
        return;
    }
    let addr = free_addr();
    let running = pipeline(&format!(
        "[sources.ws]\ntype = \"websocket_server\"\naddress = \"{addr}\"\nmax_subscriptions = 2\nprivate_channel = \"in/{{client_id}}\"\n\n\
         [sinks.inbox]\ntype = \"memory\"\ninputs = [\"ws\"]\n"
    ))
    .start()
    .await
    .expect("starts");
    let mut ann = Client::connect(addr, "?subscribe=a&subscribe=b&subscribe=c").await;
    assert_eq!(ann.frame().await["channel"], "a");
    assert_eq!(ann.frame().await["channel"], "b");
    assert_eq!(ann.frame().await, json!({"op": "error", "error": "at most 2 subscriptions per client: unsubscribe from one first"}));
    ann.send(&json!({"op": "subscribe", "channel": "d"})).await;
    assert_eq!(ann.frame().await["op"], "error");
    ann.send(&json!({"op": "unsubscribe", "channel": "a"})).await;
    assert_eq!(ann.frame().await, json!({"op": "unsubscribed", "channel": "a"}));
    ann.send(&json!({"op": "subscribe", "channel": "d"})).await;
    assert_eq!(ann.frame().await["op"], "subscribed");
    let refused = running.metrics().total("runnel_websocket_server_subscriptions_refused_total", Some(("reason", "max_subscriptions")));
    assert_eq!(refused, 2.0);
    stop(running).await;
}

/// Symbolic links in `static_dir` are followed only while they stay inside it: a link to
/// `/etc/passwd` or to a file beside the folder is a 404, like a missing file.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_files_never_lead_out_of_static_dir() {
    let site = tempfile::tempdir().expect("tempdir");
    let dir = site.path().join("www");
    std::fs::create_dir(&dir).expect("creates");
    std::fs::write(dir.join("index.html"), "<h1>chat</h1>").expect("writes");
    std::fs::write(site.path().join("beside.txt"), "private").expect("writes");
    std::os::unix::fs::symlink("/etc/passwd", dir.join("passwd")).expect("links");
    std::os::unix::fs::symlink("../beside.txt", dir.join("beside.txt")).expect("links");
    std::os::unix::fs::symlink("index.html", dir.join("home.html")).expect("links");
    let addr = free_addr();
    let running = pipeline(&format!(
        "[sources.ws]\ntype = \"websocket_server\"\naddress = \"{addr}\"\nstatic_dir = {:?}\n\n[sinks.inbox]\ntype = \"memory\"\ninputs = [\"ws\"]\n",
        dir.display().to_string()
    ))
    .start()
    .await
    .expect("starts");
    assert_eq!(http_get(addr, "/home.html"), Some((200, "<h1>chat</h1>".to_owned())));
    assert_eq!(http_get(addr, "/passwd").map(|r| r.0), Some(404));
    assert_eq!(http_get(addr, "/beside.txt").map(|r| r.0), Some(404));
    stop(running).await;
}

/// A `websocket_server` sink added to a [`runnel::PipelineBuilder`] before the server it names is
/// built after it: the reference decides the build order, not the order of declaration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_declared_before_its_server_is_built_after_it() {
    if python().is_none() {
        return;
    }
    let addr = free_addr();
    let config = |text: &str| toml::from_str::<toml::Value>(text).expect("TOML");
    let registry = runnel::registry();
    let entry = |role, name| registry.get(role, name).expect("registered");
    let sink = entry(runnel_engine::Role::Sink, "websocket_server").parse(config("server = \"ws\"\nchannel = \"room/{room}\"")).expect("sink");
    let server = entry(runnel_engine::Role::Source, "websocket_server").parse(config(&format!("address = \"{addr}\""))).expect("server");
    let feed = entry(runnel_engine::Role::Source, "memory").parse(config("open = true")).expect("memory");
    let running = runnel::PipelineBuilder::new()
        .sink("rooms", ["feed"], sink)
        .source("feed", feed)
        .source("ws", server)
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
        .start()
        .await
        .unwrap_or_else(|e| panic!("the sink is built after its server: {e}"));
    let input = take_input(running.resources(), "feed").expect("feed");
    let mut ann = Client::connect(addr, "?user=ann&subscribe=room/lobby").await;
    assert_eq!(ann.frame().await["op"], "subscribed");
    input.send(json!({"room": "lobby", "text": "built in order"})).await.expect("the source runs");
    assert_eq!(ann.frame().await["data"]["text"], "built in order");
    drop(input);
    stop(running).await;
}
