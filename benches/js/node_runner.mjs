// The same handler as runnel's bench, run as users run a handler locally with Node.js: NDJSON on
// stdin, NDJSON on stdout. Tuned as an expert would: stdin read in large chunks, lines split by
// hand (no readline events per line), output joined per chunk and written once.
const handler = (m) => ({ ...m, len: m.text.length });

let rest = "";
const out = [];
for await (const chunk of process.stdin.setEncoding("utf8")) {
  const text = rest + chunk;
  const end = text.lastIndexOf("\n");
  rest = text.slice(end + 1);
  let start = 0;
  const lines = [];
  while (start < end) {
    const next = text.indexOf("\n", start);
    if (next > start) lines.push(JSON.stringify(handler(JSON.parse(text.slice(start, next)))));
    start = next + 1;
  }
  if (lines.length > 0 && !process.stdout.write(lines.join("\n") + "\n")) {
    await new Promise((resolve) => process.stdout.once("drain", resolve));
  }
}
if (rest.trim() !== "") process.stdout.write(JSON.stringify(handler(JSON.parse(rest))) + "\n");
