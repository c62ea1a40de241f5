// The chat page: one WebSocket to the runnel pipeline in pipelines/chat.toml.
//
// The page subscribes to its room's channel (chat/pub/<room>) in the URL, publishes to
// chat/out, and shows what arrives: room messages (replayed history first), private answers on
// its own channel, and join/leave notices. <body data-state> says where the connection is:
// connecting, open, closed or refused (closed before it ever opened: a bad token).
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("token");
const user = params.get("user");
let room = (params.get("room") || "lobby").toLowerCase();
const $ = (selector) => document.querySelector(selector);
const roomChannel = (name) => `chat/pub/${name}`;

if (!token || !user) {
  const join = $("#join");
  join.hidden = false;
  for (const [key, value] of params) if (join.elements[key]) join.elements[key].value = value;
} else {
  for (const id of ["header", "#messages", "#compose"]) $(id).hidden = false;
  connect();
}

function show(text, { who, kind, history } = {}) {
  const item = document.createElement("li");
  if (kind) item.className = kind;
  item.dataset.history = history ? "true" : "false";
  if (who) {
    const name = document.createElement("span");
    name.className = "user";
    name.textContent = who;
    item.append(name);
  }
  item.append(text);
  const list = $("#messages");
  list.append(item);
  list.scrollTop = list.scrollHeight;
}

function setState(state, text) {
  document.body.dataset.state = state;
  $("#status").textContent = text;
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = new URLSearchParams({ token, user, subscribe: roomChannel(room) });
  const socket = new WebSocket(`${scheme}//${location.host}/ws?${query}`);
  let opened = false;
  let privateChannel = null;
  $("#room-name").textContent = `#${room}`;
  setState("connecting", "connecting…");

  socket.onopen = () => {
    opened = true;
    setState("open", `connected as ${user}`);
  };
  socket.onclose = (event) => {
    if (opened) setState("closed", `disconnected (${event.code})`);
    else setState("refused", "refused: check the token");
  };
  socket.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frame.op === "welcome") privateChannel = frame.private_channel;
    else if (frame.op === "error") show(frame.error, { kind: "error" });
    else if (frame.op) return; // subscribed, unsubscribed: nothing to show
    else if (frame.channel === privateChannel) show(frame.data.text, { kind: "private" });
    else if (frame.channel === roomChannel(room)) {
      const message = frame.data;
      if (message.system) show(message.text, { kind: "system", history: frame.history });
      else show(message.text, { who: message.user, history: frame.history });
    }
  };

  $("#compose").onsubmit = (event) => {
    event.preventDefault();
    const input = event.target.elements.text;
    const text = input.value.trim();
    if (!text || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ op: "publish", channel: "chat/out", data: { room, text } }));
    input.value = "";
  };

  $("#switch").onsubmit = (event) => {
    event.preventDefault();
    const next = event.target.elements.room.value.trim().toLowerCase();
    if (!next || next === room || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ op: "unsubscribe", channel: roomChannel(room) }));
    room = next;
    $("#messages").replaceChildren();
    $("#room-name").textContent = `#${room}`;
    socket.send(JSON.stringify({ op: "subscribe", channel: roomChannel(room) }));
    event.target.elements.room.value = "";
  };
}
