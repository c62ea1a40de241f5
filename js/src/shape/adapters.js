// The handler shapes users bring, adapted to runnel's call: `(event, meta)` in, the result out
// (a message, several, null to drop). Evaluated once per engine; each adapter wraps the module's
// export. Nothing here can reach outside the sandbox: it only builds the objects the handlers
// expect.
({
  // AWS Lambda: `export const handler = async (event, context) => result`.
  lambda(handler, name, memoryMib, timeoutMs) {
    const uuid = () =>
      "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, (c) => {
        const r = (Math.random() * 16) | 0;
        return (c === "x" ? r : (r & 3) | 8).toString(16);
      });
    return (event) => {
      const deadline = Date.now() + timeoutMs;
      const context = {
        functionName: name,
        functionVersion: "$LATEST",
        invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${name}`,
        memoryLimitInMB: String(memoryMib),
        awsRequestId: uuid(),
        logGroupName: `/aws/lambda/${name}`,
        logStreamName: "runnel",
        callbackWaitsForEmptyEventLoop: true,
        getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      };
      return handler(event, context);
    };
  },

  // PubNub's before-publish, after-publish and on-interval: `(request) => request.ok()` or
  // `request.abort()`. The adapter answers with the (possibly changed) message, or null for an
  // abort.
  publish(handler) {
    return async (message, meta) => {
      const attributes = meta.attributes;
      let verdict;
      const request = {
        message,
        channels: attributes.channel === undefined ? [] : [attributes.channel],
        meta: { ...attributes, key: meta.key, timestamp: meta.timestamp },
        params: attributes.query ?? {},
        ok(changed) {
          if (changed !== undefined) request.message = changed;
          verdict = "ok";
          return Promise.resolve(request);
        },
        abort(reason) {
          verdict = "abort";
          request.reason = reason;
          return Promise.resolve(request);
        },
      };
      await handler(request);
      if (verdict === undefined) throw new Error("the handler returned without request.ok() or request.abort()");
      return verdict === "abort" ? null : request.message;
    };
  },

  // PubNub's on-request: `(request, response) => response.send(body, status)`, answered by an
  // `http_response` sink from `{status, headers, body}`.
  request(handler) {
    const reserved = new Set(["method", "path", "route", "query", "headers", "user", "request_id"]);
    return async (body, meta) => {
      const attributes = meta.attributes;
      const pathParams = Object.fromEntries(Object.entries(attributes).filter(([name]) => !reserved.has(name)));
      const text = typeof body === "string" ? body : JSON.stringify(body);
      const request = {
        method: attributes.method,
        path: attributes.path,
        route: attributes.route,
        params: { ...(attributes.query ?? {}) },
        pathParams,
        headers: { ...(attributes.headers ?? {}) },
        user: attributes.user,
        body: text,
        json: () => Promise.resolve(body),
      };
      let sent;
      const response = {
        status: 200,
        headers: {},
        send(answer, status) {
          if (status !== undefined) response.status = status;
          sent = { status: response.status, headers: response.headers, body: answer === undefined ? null : answer };
          return Promise.resolve(response);
        },
      };
      await handler(request, response);
      if (sent === undefined) throw new Error("the handler returned without response.send()");
      return sent;
    };
  },
})
