"""Helpers of the `image` block's tests, run by the venvs scripts/test.sh prepares.

  make PATH WIDTH HEIGHT            writes a test image (format from PATH's extension) with Pillow
  probe URL...                      fetches each URL and decodes it with Pillow: one JSON line each
  oracle                            reads cases (JSON) on stdin, prints what Cloudinary's official
                                    SDK makes of them: delivery URLs and API signatures
  fake-cloudinary SECRET ALGORITHM  a local stand-in for Cloudinary's API and delivery hosts (no
                                    Cloudinary server can run here): verifies each upload's
                                    signature by Cloudinary's documented rules, answers in
                                    Cloudinary's response shape, serves uploaded images back
"""

import hashlib
import io
import json
import threading
import sys
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


_LOG = threading.Lock()


def log(record):
    """One JSON line on stdout, whole: the server's threads would interleave print()'s writes."""
    with _LOG:
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()


def make(path, width, height):
    from PIL import Image

    image = Image.new("RGB", (int(width), int(height)))
    image.putdata([(x * 255 // int(width), y * 255 // int(height), 128) for y in range(int(height)) for x in range(int(width))])
    image.save(path)


def probe(urls):
    from PIL import Image

    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=30) as answer:
                data = answer.read()
                image = Image.open(io.BytesIO(data))
                print(json.dumps({"url": url, "format": image.format.lower(), "width": image.width, "height": image.height,
                                  "bytes": len(data), "content_type": answer.headers.get("Content-Type")}))
        except urllib.error.HTTPError as error:
            print(json.dumps({"url": url, "status": error.code}))


def oracle():
    import cloudinary.utils as utils

    cases = json.load(sys.stdin)
    out = []
    for case in cases:
        if "params" in case:
            out.append(utils.api_sign_request(case["params"], case["secret"], case.get("algorithm", "sha1")))
        else:
            url, _ = utils.cloudinary_url(case["public_id"], **case["options"])
            out.append(url)
    print(json.dumps(out))


def multipart(body, content_type):
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields, files = {}, {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_filename() is not None:
            files[name] = part.get_payload(decode=True)
        else:
            fields[name] = part.get_payload(decode=True).decode()
    return fields, files


def fake_cloudinary(secret, algorithm):
    from PIL import Image

    stored = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body, content_type="application/json"):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            fields, files = multipart(body, self.headers["Content-Type"])
            # Cloudinary's documented rule: every parameter but file, cloud_name, resource_type and
            # api_key (and the signature itself), sorted, as k=v joined by &, then the secret.
            signed = {k: v for k, v in fields.items() if k not in ("file", "cloud_name", "resource_type", "api_key", "signature")}
            to_sign = "&".join(f"{k}={v}" for k, v in sorted(signed.items()) if v) + secret
            expected = hashlib.new(algorithm, to_sign.encode()).hexdigest()
            fresh = abs(time.time() - int(fields.get("timestamp", "0"))) < 3600
            ok = fields.get("signature") == expected and fields.get("api_key") == "key-1" and fresh and "file" in files
            log({"path": self.path, "fields": fields, "signature_ok": ok})
            if not ok:
                return self.answer(401, {"error": {"message": f"Invalid Signature {fields.get('signature')}. String to sign - '{to_sign[:-len(secret)]}'."}})
            image = Image.open(io.BytesIO(files["file"]))
            public_id = (fields.get("folder", "") + "/" if fields.get("folder") else "") + f"up{len(stored) + 1}"
            stored[public_id] = files["file"]
            self.answer(200, {
                "public_id": public_id, "version": 1700000000 + len(stored), "signature": "unused", "width": image.width,
                "height": image.height, "format": image.format.lower().replace("jpeg", "jpg"), "resource_type": "image",
                "created_at": "2026-12-01T00:00:00Z", "tags": [], "bytes": len(files["file"]), "type": "upload",
                "etag": hashlib.md5(files["file"]).hexdigest(), "url": "http://unused", "secure_url": "https://unused",
                "original_filename": "upload",
            })

        def do_GET(self):
            # A delivery URL: the image stored under the public ID at its end (extension dropped),
            # as it was uploaded: this stand-in does not transform.
            log({"path": self.path})
            name = self.path.split("/v", 1)[-1].split("/", 1)[-1].rsplit(".", 1)[0]
            if name not in stored:
                return self.answer(404, {"error": {"message": "Resource not found"}})
            self.answer(200, stored[name], "image/png")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "make":
        make(*args)
    elif command == "probe":
        probe(args)
    elif command == "oracle":
        oracle()
    elif command == "fake-cloudinary":
        fake_cloudinary(*args)
    else:
        sys.exit(f"unknown command {command}")
