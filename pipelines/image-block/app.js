// The image block's page (pipelines/image-block.toml): subscribes to its room's channel
// (photos/<room>) on the WebSocket server that serves it, uploads photos to the pipeline's HTTP
// server as multipart forms, and shows the variants each upload becomes: every page in the room
// sees every photo. <body data-state> says where the connection is (connecting, open, closed).
//
// Query: ?room=<name> (default lobby); &upload=<URL> to post elsewhere than port 8094 of this host.
"use strict";

const params = new URLSearchParams(location.search);
const room = (params.get("room") || "lobby").toLowerCase();
const upload = params.get("upload") || `${location.protocol}//${location.hostname}:8094/rooms/${encodeURIComponent(room)}/photos`;
const $ = (selector) => document.querySelector(selector);

$("#room-name").textContent = `#${room}`;

function setState(state, text) {
  document.body.dataset.state = state;
  $("#status").textContent = text;
}

function showPhoto(photo) {
  const item = document.createElement("li");
  item.dataset.file = photo.file;
  if (photo.error) {
    item.className = "error";
    item.textContent = `${photo.file}: ${photo.error}`;
  } else {
    const title = document.createElement("strong");
    title.textContent = photo.file;
    const variants = document.createElement("div");
    variants.className = "variants";
    for (const variant of photo.variants) {
      const figure = document.createElement("figure");
      figure.dataset.name = variant.name;
      figure.dataset.width = variant.width;
      figure.dataset.height = variant.height;
      const image = document.createElement("img");
      image.src = variant.url;
      image.alt = `${photo.file}, ${variant.name}`;
      const caption = document.createElement("figcaption");
      caption.textContent = `${variant.name}: ${variant.width}×${variant.height}, ${variant.content_type}, ${Math.round(variant.bytes / 1024)} KiB`;
      figure.append(image, caption);
      variants.append(figure);
    }
    item.append(title, variants);
  }
  $("#photos").prepend(item);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = new URLSearchParams({ subscribe: `photos/${room}` });
  const socket = new WebSocket(`${scheme}//${location.host}/ws?${query}`);
  setState("connecting", "connecting…");
  socket.onopen = () => setState("open", "connected");
  socket.onclose = (event) => {
    setState("closed", `disconnected (${event.code}); reconnecting`);
    setTimeout(connect, 1000);
  };
  socket.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (!frame.op && frame.channel === `photos/${room}`) showPhoto(frame.data);
  };
}

$("#upload").onsubmit = async (event) => {
  event.preventDefault();
  const status = $("#upload-status");
  status.textContent = "uploading…";
  try {
    const answer = await fetch(upload, { method: "POST", body: new FormData(event.target) });
    status.textContent = answer.ok ? "uploaded; variants on their way" : `refused: ${(await answer.json()).error}`;
    status.dataset.status = answer.status;
  } catch (error) {
    status.textContent = `upload failed: ${error.message}`;
    status.dataset.status = "error";
  }
};

connect();
