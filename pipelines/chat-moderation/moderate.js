// The chat's before-publish function, as it would run in PubNub Functions: every publication to
// the chat passes through it before anyone receives it.
//
// - Banned words (BANNED_WORDS) are masked, whole words in any case.
// - Each user may publish RATE_LIMIT messages a minute (a counter in the kvstore that expires
//   with its window); more are aborted.
// - A room asks for a translation with "/translate <language>" ("/translate off" stops it; the
//   setting is kept in the kvstore, so it survives restarts), and its messages then get one from
//   the LibreTranslate-style service at TRANSLATE_URL (`POST {q, source, target}` answered with
//   `{translatedText}`). A translation that fails leaves the message as it is.
import kvstore from "kvstore";
import xhr from "xhr";

const banned = (process.env.BANNED_WORDS ?? "")
  .split(",")
  .map((word) => word.trim())
  .filter((word) => word !== "");
const limit = Number(process.env.RATE_LIMIT ?? "20");
const translator = process.env.TRANSLATE_URL ?? "";

const escape = (word) => word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const pattern = banned.length > 0 ? new RegExp(`\\b(${banned.map(escape).join("|")})\\b`, "gi") : null;
const mask = (text) => (pattern ? text.replace(pattern, (word) => "*".repeat(word.length)) : text);

async function translate(text, target) {
  try {
    const response = await xhr.fetch(translator, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ q: text, source: "auto", target }),
      timeout: 2000,
    });
    if (!response.ok) {
      console.warn(`translation to ${target}: HTTP ${response.status}`);
      return undefined;
    }
    return (await response.json()).translatedText;
  } catch (error) {
    console.warn(`translation to ${target} failed: ${error.message}`);
    return undefined;
  }
}

export default async (request) => {
  const message = request.message;
  if (typeof message.room !== "string" || typeof message.text !== "string" || message.text.trim() === "") {
    return request.abort("a chat message has a room and some text");
  }
  const user = message.from?.user ?? "anonymous";
  const room = message.room.toLowerCase().slice(0, 40);

  // One counter per user, started by their first message and gone a minute later.
  const sent = await kvstore.incrCounter(`rate/${user}`, 1, 1);
  if (sent > limit) return request.abort(`${user} sent more than ${limit} messages this minute`);

  const command = /^\/translate\s+(\S+)\s*$/.exec(message.text);
  if (command) {
    const language = command[1].toLowerCase();
    if (language === "off") await kvstore.removeItem(`translate/${room}`);
    else await kvstore.set(`translate/${room}`, language);
    const text = language === "off" ? `${user} turned translation off` : `${user} asked for translation to ${language}`;
    return request.ok({ room, user, system: true, text, ts: Date.now() });
  }

  const out = { room, user, text: mask(message.text.slice(0, 2000)), ts: Date.now() };
  const target = translator === "" ? null : await kvstore.get(`translate/${room}`);
  if (target) {
    const translation = await translate(out.text, target);
    if (translation !== undefined) out.translation = { [target]: translation };
  }
  return request.ok(out);
};
