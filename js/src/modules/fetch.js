// `fetch` as the WHATWG API shapes it (a subset), over runnel's native request: it takes
// `request(url, options)` (which resolves to {status, statusText, url, headers: [[name, value]],
// body}) and returns `fetch`. A response's `body` is also a string property, as PubNub's xhr gives
// it, and its headers can be read as properties (`headers["content-type"]`) as well as with get().
(request) => {
  class Headers {
    #values = new Map();
    constructor(pairs) {
      for (const [name, value] of pairs) {
        const key = name.toLowerCase();
        this.#values.set(key, this.#values.has(key) ? `${this.#values.get(key)}, ${value}` : value);
      }
      for (const [key, value] of this.#values) {
        if (!(key in Headers.prototype)) this[key] = value;
      }
    }
    get(name) { return this.#values.get(String(name).toLowerCase()) ?? null; }
    has(name) { return this.#values.has(String(name).toLowerCase()); }
    forEach(callback, self) { for (const [key, value] of this.#values) callback.call(self, value, key, this); }
    entries() { return this.#values.entries(); }
    keys() { return this.#values.keys(); }
    values() { return this.#values.values(); }
    [Symbol.iterator]() { return this.#values.entries(); }
  }
  class Response {
    constructor(raw) {
      this.status = raw.status;
      this.statusText = raw.statusText;
      this.ok = raw.status >= 200 && raw.status < 300;
      this.url = raw.url;
      this.headers = new Headers(raw.headers);
      this.body = raw.body;
    }
    async text() { return this.body; }
    async json() { return JSON.parse(this.body); }
  }
  return async function fetch(url, options) {
    return new Response(await request(String(url), options ?? {}));
  };
}
