// PetTube's page: sign in with a token, upload a video or a photo, and see (and play) the
// files the pipeline made of it. The API is the pipeline's http_server: POST /api/uploads
// (multipart) and GET /api/media, both with `Authorization: Bearer <token>`.

let token = sessionStorage.getItem("pettube-token") || "";
let refreshing = null;

function api(path, init = {}) {
  return fetch(path, { ...init, headers: { ...(init.headers || {}), Authorization: `Bearer ${token}` } });
}

function item(file) {
  const li = document.createElement("li");
  li.dataset.size = file.size;
  li.dataset.original = file.original;
  li.dataset.width = file.width;
  li.dataset.height = file.height;
  const media = file.kind === "video" ? document.createElement("video") : document.createElement("img");
  media.src = file.url;
  if (file.kind === "video") {
    media.controls = true;
    media.preload = "metadata";
  } else {
    media.alt = file.name || "";
  }
  const caption = document.createElement("p");
  const seconds = file.kind === "video" ? `, ${Number(file.duration).toFixed(1)} s` : "";
  caption.textContent = `${file.name || "upload"} · ${file.size} · ${file.width}×${file.height}${seconds} · ${Math.round(file.bytes / 1024)} KiB`;
  li.append(media, caption);
  return li;
}

async function refresh() {
  const answer = await api("/api/media");
  if (answer.status === 401) {
    document.body.dataset.state = "refused";
    return;
  }
  const { media } = await answer.json();
  const list = document.getElementById("media");
  const shown = [...list.children].map((li) => li.querySelector("video, img").getAttribute("src")).join(" ");
  if (shown !== media.map((file) => file.url).join(" ")) {
    list.replaceChildren(...media.map(item));
  }
  list.dataset.count = media.length;
}

function signIn(value) {
  token = value.trim();
  sessionStorage.setItem("pettube-token", token);
  document.getElementById("upload").hidden = false;
  document.body.dataset.state = "signed-in";
  clearInterval(refreshing);
  // Jobs finish after the upload's answer: the list is asked again every second.
  refreshing = setInterval(refresh, 1000);
  return refresh();
}

document.getElementById("sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn(document.getElementById("token").value);
});

document.getElementById("upload").addEventListener("submit", async (event) => {
  event.preventDefault();
  const status = document.getElementById("upload-status");
  const form = new FormData(event.target);
  status.textContent = "uploading...";
  const answer = await api("/api/uploads", { method: "POST", body: form });
  const body = await answer.json();
  status.dataset.status = answer.status;
  status.dataset.id = body.id || "";
  status.textContent = answer.ok ? `stored ${body.name} (${body.bytes} bytes); making its sizes...` : `failed: ${body.error}`;
  refresh();
});

if (token) {
  document.getElementById("token").value = token;
  signIn(token);
}
