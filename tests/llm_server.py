#!/usr/bin/env python3
"""llm_server.py - a scripted OpenAI-compatible chat server for hone's tests.

  python3 tests/llm_server.py --port-file FILE [--control DIR]
      Listens on 127.0.0.1 (port 0), writes the port to FILE (atomically) and serves until
      SIGTERM or until its parent process dies. With --control it also takes the control
      commands below through two FIFOs it makes, DIR/in and DIR/out: write "COMMAND\nBODY"
      to in and close it, then read "STATUS\nJSON" from out. A client without sockets (Lua)
      needs no helper process that way.

Endpoints (and control commands: script, requests, reset):
  POST .../chat/completions, POST .../messages   answered from the script, logged
  POST /_script   {"replies": [...], "rules": [...], "default": {...}, "pick": "queue"|"hash"}:
                  replaces the script and clears the request log
  GET  /_requests the log, oldest first: [{method, path, headers, auth_scheme?,
                  auth_length?, in_flight, body | body_text}]; header names are lower case;
                  the Authorization and x-api-key values are never kept, only the scheme
                  ("Bearer", "x-api-key") and the credential's length; in_flight counts
                  the chat requests being answered when this one arrived, itself included
  POST /_reset    empties the script and the log

A request is answered by the first rule whose "match" occurs in its message contents (rules
are not consumed), else by the next queued reply, else by the default, else by a 500
"script exhausted". With "pick": "hash" the replies are not a queue but a table: a request
gets replies[h mod n], h the first 64 bits of the SHA-256 of its message contents (joined as
rules see them), so the same request always gets the same reply, whatever the order of
requests, retries or restarts of the client (hone's kill-and-resume test relies on it).
Reply fields (all optional, combinable):
  content, finish_reason ("stop"), refusal, prompt_tokens, completion_tokens  a completion
  status              non-200: an error body {"error": {"message", "type"}}
  message (or body)   the error message; type overrides the error type
  retry_after         a Retry-After header value, e.g. "1"
  headers             extra response headers
  raw                 this exact body (status defaults to 200)
  raw_base64          this exact body, as bytes: what JSON cannot carry (invalid UTF-8)
  anthropic           reply in Anthropic Messages format
  size                a 200 whose body is that many filler bytes
  chunked             send the body in chunks of at most 1 MiB without a Content-Length
                      (Transfer-Encoding: chunked), so the client must count; with size the
                      filler is made chunk by chunk, never held whole. The log entry gets
                      "sent": the body bytes written before the client hung up (or all)
  echo_auth           an error (status defaults to 401) whose message quotes the credential
                      received, as a careless proxy would: for tests that keys never get stored
  delay               seconds to wait before answering
  body_delay          seconds to wait between the two halves of the body
  cut                 send the full Content-Length but only half the body, then close
  drop                close the connection without answering
A script with an unknown field or a wrongly typed one is refused (400): a typo fails loudly.
"""
import argparse
import base64
import hashlib
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_REQUEST_BODY = 256 << 20   # larger prompts than any test sends; refuse, don't buffer


NUMBER = (int, float)
REPLY_FIELDS = {   # name -> the JSON types it may take
    "match": (str,), "content": (str, type(None)), "finish_reason": (str, type(None)),
    "refusal": (str, type(None)), "prompt_tokens": (int,), "completion_tokens": (int,),
    "status": (int,), "message": (str,), "body": (str,), "type": (str,),
    "retry_after": (str, int), "headers": (dict,), "raw": (str,), "anthropic": (bool,),
    "size": (int,), "delay": NUMBER, "body_delay": NUMBER, "cut": (bool,), "drop": (bool,),
    "raw_base64": (str,), "chunked": (bool,), "echo_auth": (bool,),
}
CHUNK = 1 << 20


def check_reply(reply, what):
    """Raises ValueError unless reply is a reply object: a typo must fail the test loudly."""
    if not isinstance(reply, dict):
        raise ValueError("%s must be an object" % what)
    for name, value in reply.items():
        types = REPLY_FIELDS.get(name)
        if types is None:
            raise ValueError("%s: unknown field %r" % (what, name))
        if not isinstance(value, types) or (types != (bool,) and isinstance(value, bool)):
            raise ValueError("%s: %s has the wrong type" % (what, name))
        if types in (NUMBER, (int,)) and value < 0:
            raise ValueError("%s: %s must not be negative" % (what, name))


class Script:
    """The replies to give and the requests seen; shared by all handler threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.replies, self.rules, self.default, self.log = [], [], None, []
            self.pick = "queue"
            self.new_generation()

    def new_generation(self):
        """A new script counts only its own requests in flight: a handler still busy with
        a request its client gave up on (a timeout test) belongs to the old one."""
        self.generation = getattr(self, "generation", 0) + 1
        self.in_flight = 0

    def enter(self):
        """A chat request arrives: (its generation, requests in flight with it)."""
        with self.lock:
            self.in_flight += 1
            return self.generation, self.in_flight

    def leave(self, generation):
        with self.lock:
            if generation == self.generation:
                self.in_flight -= 1

    def load(self, spec):
        replies, rules, default = spec.get("replies"), spec.get("rules"), spec.get("default")
        # An empty Lua table may arrive as {} rather than [].
        replies = [] if replies in (None, {}) else replies
        rules = [] if rules in (None, {}) else rules
        if not isinstance(replies, list) or not isinstance(rules, list):
            raise ValueError("replies and rules must be lists")
        for i, r in enumerate(replies):
            check_reply(r, "replies[%d]" % (i + 1))
        for i, r in enumerate(rules):
            check_reply(r, "rules[%d]" % (i + 1))
            if "match" not in r:
                raise ValueError("rules[%d] has no match" % (i + 1))
        if default is not None:
            check_reply(default, "default")
        pick = spec.get("pick", "queue")
        if pick not in ("queue", "hash"):
            raise ValueError("pick must be \"queue\" or \"hash\"")
        if pick == "hash" and not replies:
            raise ValueError("pick \"hash\" needs replies to pick from")
        unknown = set(spec) - {"replies", "rules", "default", "pick"}
        if unknown:
            raise ValueError("unknown script fields: %s" % ", ".join(sorted(unknown)))
        with self.lock:
            self.replies, self.rules, self.default, self.log = list(replies), rules, default, []
            self.pick = pick
            self.new_generation()

    def choose(self, text):
        with self.lock:
            for rule in self.rules:
                if rule["match"] in text:
                    return rule
            if self.pick == "hash":
                digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
                return self.replies[int.from_bytes(digest[:8], "big") % len(self.replies)]
            if self.replies:
                return self.replies.pop(0)
            return self.default

    def record(self, entry):
        with self.lock:
            self.log.append(entry)

    def requests(self):
        with self.lock:
            return list(self.log)

    def control(self, command, data):
        """Runs a control command: (HTTP status, JSON-able value)."""
        if command == "requests":
            return 200, self.requests()
        if command == "reset":
            self.reset()
            return 200, {"ok": True}
        if command != "script":
            return 404, {"error": {"message": "no such command", "type": "not_found"}}
        try:
            spec = json.loads(data)
            if not isinstance(spec, dict):
                raise ValueError("the script must be an object")
            self.load(spec)
        except ValueError as e:   # json.JSONDecodeError is a ValueError
            return 400, {"error": {"message": str(e), "type": "bad_script"}}
        return 200, {"ok": True}


def message_text(body):
    """The message contents of a chat request, joined: what rules match against."""
    parts = []
    messages = body.get("messages") if isinstance(body, dict) else None
    for m in messages if isinstance(messages, list) else []:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p["text"] for p in content
                         if isinstance(p, dict) and isinstance(p.get("text"), str))
    return "\n".join(parts)


def rough_tokens(text):
    return len(text) // 4 + 1


def error_type(status):
    if status == 429:
        return "rate_limit_exceeded"
    return "server_error" if status >= 500 else "invalid_request_error"


def completion(reply, body, anthropic):
    model = body.get("model", "unknown") if isinstance(body, dict) else "unknown"
    content = reply.get("content")
    prompt = reply.get("prompt_tokens", rough_tokens(message_text(body)))
    done = reply.get("completion_tokens", rough_tokens(content) if content else 0)
    now = int(time.time())
    if anthropic:
        return {"id": "msg_%d" % now, "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": content or ""}],
                "stop_reason": reply.get("finish_reason", "end_turn"),
                "usage": {"input_tokens": prompt, "output_tokens": done}}
    message = {"role": "assistant", "content": content}
    if "refusal" in reply:
        message["refusal"] = reply["refusal"]
    return {"id": "chatcmpl-%d" % now, "object": "chat.completion", "created": now,
            "model": model,
            "choices": [{"index": 0, "message": message,
                         "finish_reason": reply.get("finish_reason", "stop")}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": done,
                      "total_tokens": prompt + done}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive: every reply carries Content-Length
    server_version = "hone-llm-test/1"

    def log_message(self, format, *args):   # noqa: A002 - the base class's name
        pass   # the request log is /_requests; stderr stays for real faults

    def read_body(self):
        """The request body, or None after answering 4xx (the connection then closes)."""
        if "Transfer-Encoding" in self.headers:
            self.send_json(411, {"error": {"message": "send a Content-Length",
                                           "type": "invalid_request_error"}}, close=True)
            return None
        try:
            length = int(self.headers.get("Content-Length", "0"))
            if length < 0 or length > MAX_REQUEST_BODY:
                raise ValueError
        except ValueError:
            self.send_json(400, {"error": {"message": "bad Content-Length",
                                           "type": "invalid_request_error"}}, close=True)
            return None
        return self.rfile.read(length)

    def send_bytes(self, status, data, content_type="application/json", headers=None,
                   close=False):
        self.leave_flight()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(str(name), str(value))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def send_json(self, status, value, close=False):
        self.send_bytes(status, json.dumps(value).encode(), close=close)

    def do_GET(self):
        if self.path == "/_requests":
            self.send_json(*self.server.script.control("requests", b""))
        else:
            self.send_json(404, {"error": {"message": "no such path", "type": "not_found"}})

    def do_POST(self):
        data = self.read_body()
        if data is None:
            return
        if self.path in ("/_script", "/_reset"):
            self.send_json(*self.server.script.control(self.path[2:], data))
        elif self.path.endswith("/chat/completions") or self.path.endswith("/messages"):
            self.chat(data)
        else:
            self.send_json(404, {"error": {"message": "no such path", "type": "not_found"}})

    def chat(self, data):
        self.generation, in_flight = self.server.script.enter()
        entry = {"method": self.command, "path": self.path, "headers": {}, "in_flight": in_flight}
        self.counted = True
        try:
            self.chat_logged(data, entry)
        finally:
            self.leave_flight()

    def leave_flight(self):
        """Called before the answer goes out: once the client has it, it may send the next
        request at once, and this one must no longer count as in flight."""
        if getattr(self, "counted", False):
            self.counted = False
            self.server.script.leave(self.generation)

    def chat_logged(self, data, entry):
        self.credential = None   # for echo_auth only; never logged
        for name, value in self.headers.items():
            if name.lower() == "authorization":
                scheme, _, credential = value.partition(" ")
                entry["auth_scheme"], entry["auth_length"] = scheme, len(credential)
                self.credential = credential
            elif name.lower() == "x-api-key":
                entry["auth_scheme"], entry["auth_length"] = "x-api-key", len(value)
                self.credential = value
            else:
                entry["headers"][name.lower()] = value
        try:
            body = json.loads(data)
            entry["body"] = body
        except ValueError:
            entry["body_text"] = data.decode("utf-8", "replace")
            self.server.script.record(entry)
            self.send_json(400, {"error": {"message": "the body is not JSON",
                                           "type": "invalid_request_error"}})
            return
        self.server.script.record(entry)
        reply = self.server.script.choose(message_text(body))
        if reply is None:
            self.send_json(500, {"error": {"message": "script exhausted", "type": "server_error"}})
            return
        self.answer(reply, body, entry)

    def send_chunked(self, status, headers, data, size, entry):
        """The body (data, or size filler bytes) in chunks; counts in entry["sent"] what went out."""
        self.leave_flight()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in headers.items():
            self.send_header(str(name), str(value))
        self.end_headers()
        total = len(data) if data is not None else size
        entry["sent"] = 0
        try:
            while entry["sent"] < total:
                n = min(CHUNK, total - entry["sent"])
                chunk = data[entry["sent"]:entry["sent"] + n] if data is not None else b" " * n
                self.wfile.write(b"%x\r\n" % n + chunk + b"\r\n")
                entry["sent"] += n
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def answer(self, reply, body, entry):
        if reply.get("delay"):
            time.sleep(float(reply["delay"]))
        if reply.get("drop"):
            self.leave_flight()
            self.close_connection = True
            return
        status = int(reply.get("status", 200))
        headers = dict(reply.get("headers") or {})
        if "retry_after" in reply:
            headers["Retry-After"] = reply["retry_after"]
        if reply.get("echo_auth"):
            status = int(reply.get("status", 401))
            data = json.dumps({"error": {"message": "Incorrect API key provided: %s" % self.credential,
                                         "type": "invalid_request_error"}}).encode()
        elif "raw" in reply:
            data = str(reply["raw"]).encode()
        elif "raw_base64" in reply:
            data = base64.b64decode(reply["raw_base64"])
        elif "size" in reply:
            if reply.get("chunked"):
                self.send_chunked(status, headers, None, int(reply["size"]), entry)
                return
            data = b" " * int(reply["size"])
        elif status != 200:
            message = reply.get("message", reply.get("body", "scripted HTTP %d" % status))
            data = json.dumps({"error": {"message": message,
                                         "type": reply.get("type", error_type(status))}}).encode()
        else:
            data = json.dumps(completion(reply, body, bool(reply.get("anthropic")))).encode()

        if reply.get("chunked"):
            self.send_chunked(status, headers, data, None, entry)
            return
        if not (reply.get("cut") or reply.get("body_delay")):
            self.send_bytes(status, data, headers=headers)
            return
        half = len(data) // 2
        self.leave_flight()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(str(name), str(value))
        self.end_headers()
        self.wfile.write(data[:half])
        self.wfile.flush()
        if reply.get("cut"):
            self.close_connection = True
            return
        time.sleep(float(reply["body_delay"]))
        self.wfile.write(data[half:])
        self.wfile.flush()


class Server(ThreadingHTTPServer):
    daemon_threads = True   # a sleeping handler must not keep a killed server alive
    allow_reuse_address = True
    request_queue_size = 128   # the concurrency bench opens dozens of connections at once

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.script = Script()

    def handle_error(self, request, client_address):
        # Clients that hang up (timeouts, cut tests) are expected; anything else is a bug here.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def watch_parent(port_file, control_dir):
    """Exits once the process that started us is gone, so a crashed run leaves nothing."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.2)
    litter = [port_file]
    if control_dir:
        litter += [os.path.join(control_dir, "in"), os.path.join(control_dir, "out")]
    for path in litter:
        try:
            os.unlink(path)
        except OSError:
            pass
    if control_dir:
        try:
            os.rmdir(control_dir)   # made for us, and nobody else is left to remove it
        except OSError:
            pass
    os._exit(0)


def serve_control(script, control_dir):
    """Answers control commands on the FIFOs, one at a time, for as long as we run."""
    fifo_in, fifo_out = os.path.join(control_dir, "in"), os.path.join(control_dir, "out")
    while True:
        with open(fifo_in, "rb") as f:   # blocks until a client opens it to write
            command, _, data = f.read().partition(b"\n")
        try:
            status, value = script.control(command.decode("utf-8", "replace").strip(), data)
        except Exception as e:   # noqa: BLE001 - a client blocked on out must get an answer
            status, value = 500, {"error": {"message": repr(e), "type": "server_error"}}
        with open(fifo_out, "wb") as f:
            f.write(b"%d\n" % status + json.dumps(value).encode())


def serve(port_file, control_dir):
    server = Server()
    threading.Thread(target=watch_parent, args=(port_file, control_dir), daemon=True).start()
    if control_dir:
        for name in ("in", "out"):
            os.mkfifo(os.path.join(control_dir, name))
        threading.Thread(target=serve_control, args=(server.script, control_dir),
                         daemon=True).start()
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.replace(tmp, port_file)   # readers never see a half-written port
    server.serve_forever()


def main():
    p = argparse.ArgumentParser(description="scripted OpenAI-compatible test server")
    p.add_argument("--port-file", required=True)
    p.add_argument("--control", metavar="DIR", help="make DIR/in and DIR/out and serve them")
    args = p.parse_args()
    serve(args.port_file, args.control)
    return 0


if __name__ == "__main__":
    sys.exit(main())
